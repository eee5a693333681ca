"""klvae._lazy: packages whose names are imported on first use."""

import subprocess
import sys

import pytest

from klvae._lazy import LazyExports


def test_a_name_is_imported_when_first_asked_and_kept():
    namespace: dict = {}
    lazy = LazyExports("pkg", {"fractions": ["Fraction"], "decimal": ["Decimal"]}, namespace)
    assert lazy.names == ["Fraction", "Decimal"] and namespace == {}
    from fractions import Fraction

    assert lazy.load("Fraction") is Fraction and namespace == {"Fraction": Fraction}
    assert lazy.dir() == ["Decimal", "Fraction"]
    with pytest.raises(AttributeError, match="module 'pkg' has no attribute 'nope'"):
        lazy.load("nope")


@pytest.mark.parametrize("package", ["klvae", "klvae.measures", "klvae.data"])
def test_the_lazy_packages_import_nothing_heavy_and_list_their_names(package):
    code = (
        f"import sys, {package} as p; heavy = {{'torch', 'scipy', 'matplotlib'}} & set(sys.modules); "
        "assert not heavy, heavy; assert set(p.__all__) <= set(dir(p)), 'dir'; print(len(p.__all__))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert int(out) > 5
