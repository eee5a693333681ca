"""The data package: every public name is there on first use; reading files starts no torch."""

import importlib
import subprocess
import sys

import pytest

import klvae.data as data


def test_every_name_comes_from_the_module_the_table_names():
    for module, names in data._EXPORTS.items():
        mod = importlib.import_module(module)
        assert set(names) <= set(mod.__all__)
        for name in names:
            assert getattr(data, name) is getattr(mod, name)
    assert set(data.__all__) <= set(dir(data))
    with pytest.raises(AttributeError, match="no attribute 'load'"):
        data.load  # noqa: B018


def test_the_file_readers_import_no_torch():
    code = "import sys, klvae.data.files; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
