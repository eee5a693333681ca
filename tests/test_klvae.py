"""`import klvae`: the measures at once, the heavier parts on first use of one of their names."""

import subprocess
import sys

import klvae


def test_every_public_name_resolves_to_what_its_module_defines():
    for name in klvae.__all__:
        assert getattr(klvae, name) is not None, name
    assert (
        klvae.train_vae.__module__ == "klvae.runs.vae.job" and klvae.save_image_grid.__module__ == "klvae.figures.png"
    )


def test_import_is_quick_and_changes_no_global_state():
    lazy = (
        "import sys, klvae; import klvae.figures.png, klvae.runs.vae.job; "
        "assert not any(m in sys.modules for m in ('sklearn', 'matplotlib.pyplot')), 'imported eagerly'"
    )
    subprocess.run([sys.executable, "-c", lazy], check=True)
    state = (
        "import os, matplotlib; u = os.umask(0o22); os.umask(u); b = matplotlib.get_backend(); "
        "import klvae, klvae.figures.png, klvae.runs; v = os.umask(0o22); os.umask(v); "
        "assert (u, b) == (v, matplotlib.get_backend()), 'global state changed'"
    )
    subprocess.run([sys.executable, "-c", state], check=True)
