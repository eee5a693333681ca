"""The measures package: every public name is there on first use, and importing it starts nothing heavy."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

import klvae.measures as measures


def test_every_name_comes_from_the_module_the_table_names():
    for module, names in measures._EXPORTS.items():
        mod = importlib.import_module(module)
        for name in names:
            assert getattr(measures, name) is getattr(mod, name), name


def test_dir_and_all_list_every_public_name():
    assert set(measures.__all__) == {n for names in measures._EXPORTS.values() for n in names}
    assert set(measures.__all__) <= set(dir(measures))
    assert len(measures.__all__) == len(set(measures.__all__))  # no name given by two modules


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'entropyy'"):
        measures.entropyy  # noqa: B018
    with pytest.raises(ImportError):
        from klvae.measures import entropyy  # noqa: F401


def test_the_root_package_gives_the_same_objects():
    import klvae

    for name in ("entropy", "kl_divergence", "hellinger_distance", "MCEstimate"):
        assert getattr(klvae, name) is getattr(measures, name)


def test_importing_the_package_imports_neither_torch_nor_scipy():
    code = "import sys, klvae.measures; print(sorted(m for m in ('torch', 'scipy', 'matplotlib') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]", out
