"""Sphinx configuration of klvae's documentation (built by `make docs` into docs/_build/html, offline)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))

import klvae_docs  # noqa: E402

import klvae  # noqa: E402

project = "klvae"
author = "the klvae authors"
copyright = "the klvae authors"  # noqa: A001
release = version = klvae.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "klvae_docs",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "sg_execution_times.rst"]
html_theme = "furo"
html_title = f"klvae {release}"
html_static_path = ["_static"]
html_css_files = ["klvae.css"]
html_show_sourcelink = False
html_copy_source = False

# -- references: every klvae name must resolve; other projects' names are plain text (no network,
# so no intersphinx)
nitpicky = True
nitpick_ignore_regex = [
    (r"py:.*", r"(?!klvae\b).*"),  # torch, numpy, builtins, typing: not klvae's
    (r"py:.*", r"klvae\.\w+\._.*"),  # private modules named in annotations
]

# -- autodoc / autosummary
autosummary_generate = True
autosummary_imported_members = False
autodoc_default_options: dict = {}  # each template says what it shows ({"members": False} hides every member)
autodoc_typehints = "none"  # the signature line shows the names; the Parameters section the types
autodoc_member_order = "bysource"
add_module_names = False

# -- docstrings: numpydoc
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
numpydoc_attributes_as_param_list = False

# numpydoc's validation runs on every public name of the layers whose docstrings are in numpydoc
# form: a name without a summary, a Parameters section that does not match its signature, or a
# function without a described Returns section fails the build. A module not yet in that form would
# be listed here, unvalidated. None is left.
NOT_VALIDATED: list[str] = []
numpydoc_validation_checks = {"GL08", "SS01", "PR01", "PR02", "PR07", "RT01", "RT02", "RT03"}
numpydoc_validation_exclude = set(klvae_docs.validation_exclusions(NOT_VALIDATED)) | {
    r"\.__init__$",
    r"\.forward$",  # nn.Module.forward: documented by its class
    r"^klvae\.training\.Task$",  # a Protocol: its __init__(*args, **kwargs) is typing's, not one to document
}

# -- math: Debian's MathJax 2 (libjs-mathjax), copied into the build; no CDN
mathjax_path = "mathjax/MathJax.js?config=TeX-AMS_CHTML"
mathjax2_config = {"CommonHTML": {"linebreaks": {"automatic": True}}, "messageStyle": "none"}
MATHJAX_SOURCE = os.environ.get("KLVAE_MATHJAX_DIR", "/usr/share/javascript/mathjax")

# -- the gallery: examples/ run at build time
sphinx_gallery_conf = {
    "examples_dirs": str(HERE.parent / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "download_all_examples": False,
    "remove_config_comments": True,
    "within_subsection_order": "FileNameSortKey",
    "matplotlib_animations": False,
    "image_scrapers": ("klvae_docs.scrape_figures",),
    "reset_modules": ("matplotlib",),
    "show_memory": False,
    "write_computation_times": False,  # its page loads jQuery and DataTables from a CDN
    "min_reported_time": 1,
    "first_notebook_cell": None,
    "show_signature": False,
}
