"""Sphinx configuration of the realtime_nmf documentation.

Build: ``sphinx-build -W -b html docs docs/_build/html`` (warnings are errors; the test
suite runs it, tests/test_docs.py). Pages are MyST Markdown, so the Markdown the
benchmarks write (docs/generated/*.md) is included as it is; the API reference is autodoc
with numpydoc.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # document this checkout, not whatever realtime_nmf is installed

import realtime_nmf  # noqa: E402

project = "realtime_nmf"
author = "realtime_nmf developers"
copyright = "realtime_nmf developers"
version = release = realtime_nmf.__version__

extensions = ["myst_parser", "sphinx.ext.autodoc", "sphinx.ext.mathjax", "numpydoc"]

source_suffix = {".md": "markdown", ".rst": "restructuredtext"}  # .rst: what autosummary (loaded by numpydoc) expects
root_doc = "index"
exclude_patterns = ["_build", "generated/*.md"]  # generated pages are included by the pages that explain them
myst_enable_extensions = ["colon_fence", "deflist", "dollarmath"]
myst_heading_anchors = 3

# autodoc: members in source order, __all__ respected; the package's own types in signatures
autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "show-inheritance": True}
autodoc_typehints = "none"  # numpydoc's Parameters sections carry the types, with shapes
numpydoc_show_class_members = False  # members are documented by autodoc, not listed twice
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

html_theme = "pydata_sphinx_theme"
html_title = f"realtime_nmf {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
}
html_static_path = ["_static"]
html_css_files = ["wide.css"]
# the guide pages have no section navigation: no empty left sidebar (the API pages keep theirs)
html_sidebars = {page: [] for page in ("index", "installation", "workflow", "presets", "live", "how-it-works", "performance", "quality",
                                      "citing")}
html_show_sourcelink = False
