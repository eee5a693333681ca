"""Test-wide settings: Hypothesis draws the same examples on every run, so CI is repeatable
(set HYPOTHESIS_PROFILE=explore locally to search with fresh random examples)."""

import os

from hypothesis import settings

settings.register_profile("repeatable", derandomize=True, print_blob=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repeatable"))
