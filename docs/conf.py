"""Sphinx configuration of the sk_privattn documentation.

Build the site with ``python -m sphinx -W --keep-going -b html docs docs/_build/html``
(warnings are errors, as in CI). The Markdown pages are read by myst-parser, the
API reference is generated from the docstrings by autosummary and numpydoc, and
the scripts in ``examples/`` are run by sphinx-gallery, which draws their figures.
Set ``SK_PRIVATTN_DOC_QUICK=1`` (CI sets ``CI``) for the short training that the
examples use under CI.
"""

import re
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # document this checkout, not another installed copy

import sk_privattn  # noqa: E402

project = "sk_privattn"
author = "sk_privattn developers"
copyright = "sk_privattn developers, BSD-3-Clause"
release = version = sk_privattn.__version__

extensions = [
    "myst_parser",
    "numpydoc",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx_gallery.gen_gallery",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "auto_examples/*.ipynb", "auto_examples/*.py", "auto_examples/*.zip",
                    "auto_examples/*.md5", "auto_examples/*.codeobj.json"]
templates_path = ["_templates"]

# Markdown: heading anchors so that links such as privacy.md#warm-starts resolve.
myst_heading_anchors = 3
myst_enable_extensions = ["dollarmath"]

# API reference: one page per public object, listed from each module's __all__,
# so a new public name appears without editing api.rst.
autosummary_generate = True
autosummary_ignore_module_all = False
autodoc_default_options = {}
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True

sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "within_subsection_order": "FileNameSortKey",
    "doc_module": ("sk_privattn",),
    "backreferences_dir": "gen_modules/backreferences",
    "reference_url": {"sk_privattn": None},
    "image_scrapers": ("matplotlib",),
    "abort_on_example_error": True,
    "remove_config_comments": True,
    "show_memory": False,
}

html_theme = "pydata_sphinx_theme"
html_title = f"sk_privattn {version}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
}
html_sidebars = {"**": ["sidebar-nav-bs"]}
html_static_path = []
html_show_sourcelink = False


# Methods inherited from scikit-learn (score, get_params, set_*_request, ...) keep
# scikit-learn's docstrings, whose :ref: and :term: roles point into scikit-learn's own
# documentation. Shown here as plain text, so that they do not break the build.
_SKLEARN_ROLE = re.compile(r":(?:ref|term):`([^`<]*?)\s*(?:<[^`>]*>)?`")


def _plain_sklearn_roles(app, what, name, obj, options, lines):
    module = getattr(obj, "__module__", None) or ""
    if module.startswith("sklearn"):
        lines[:] = [_SKLEARN_ROLE.sub(lambda match: match.group(1), line) for line in lines]


def setup(app):
    app.connect("autodoc-process-docstring", _plain_sklearn_roles)
