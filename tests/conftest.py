"""Test-wide settings: Hypothesis draws the same examples on every run, so CI is repeatable
(set HYPOTHESIS_PROFILE=explore locally to search with fresh random examples)."""

import os

import pytest
import torch
from hypothesis import settings

settings.register_profile("repeatable", derandomize=True, print_blob=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repeatable"))


@pytest.fixture(scope="module")
def one_thread():
    """One torch thread for a module of many small tensor operations (faster than two)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
