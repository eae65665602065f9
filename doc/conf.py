"""Sphinx configuration for the skcatdog documentation.

Build with ``sphinx-build -W -n doc doc/_build/html`` from the repository root
(``pip install -e ".[docs]"`` first).  The API reference and the performance
page are generated at build time: the API from ``skcatdog.__all__`` and the
``__all__`` of every public module, the performance tables from the CSV files in
``benchmarks/results/``.  Nothing is fetched from the network.
"""

import os
import sys
from pathlib import Path

DOC = Path(__file__).resolve().parent
ROOT = DOC.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(DOC))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

# The gallery's photos: the repository's shared test photos when they are beside the
# checkout (CI); otherwise each example finds the user's own copy or says what it needs.
_SHARED_PHOTOS = ROOT.parent / "shared" / "data" / "dogs-vs-cats"
if (_SHARED_PHOTOS / "train").is_dir():
    os.environ.setdefault("SKCATDOG_EXAMPLE_PHOTOS", str(_SHARED_PHOTOS / "train"))
    os.environ.setdefault("SKCATDOG_EXAMPLE_OUTLIERS", str(_SHARED_PHOTOS / "outliers"))

from _generate import write_api_pages, write_performance_page  # noqa: E402

import skcatdog  # noqa: E402

project = "skcatdog"
author = "The skcatdog developers"
copyright = "The skcatdog developers"  # noqa: A001 (Sphinx's name)
version = release = skcatdog.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "**/*.ipynb", "**/*.py.md5", "**/*.zip", "**/*.json", "**/*.pickle"]
root_doc = "index"
default_role = "literal"

# -- API reference ---------------------------------------------------------------------
write_api_pages(DOC / "api.rst")
autosummary_generate = True
autosummary_imported_members = True
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_validation_checks = set()

# Internal references only (no intersphinx: the build never touches the network), so a
# reference to another project's object is plain text, not a broken link.
nitpicky = True
nitpick_ignore_regex = [
    (
        r"py:.*",
        r"(sklearn|imblearn|numpy|np|pandas|pd|keras|tensorflow|joblib|dask|distributed|fsspec|pyarrow"
        r"|PIL|skops|diskcache|matplotlib|scipy|os|pathlib|collections|typing|concurrent)(\..*)?",
    ),
    (
        r"py:.*",
        r"(str|int|float|bool|bytes|dict|list|tuple|set|callable|object|None|path-like|array-like"
        r"|ndarray|DataFrame|Series|Bunch|estimator|optional|default|PathLike|Path|Exception|ValueError"
        r"|RuntimeError|OSError|TypeError|FileNotFoundError|type|iterable|sequence|mapping|generator)",
    ),
]

# -- Performance page ------------------------------------------------------------------
write_performance_page(ROOT / "benchmarks" / "results", DOC / "performance.rst")

# -- Gallery -----------------------------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "auto_examples",
    # Only the plot_*.py scripts are gallery pages; the command-line examples beside them
    # (cross_validate.py and the others) take arguments and run for minutes.
    "filename_pattern": r"/plot_",
    "ignore_pattern": r"^(?!plot_)",
    "within_subsection_order": "FileNameSortKey",
    "download_all_examples": False,
    "remove_config_comments": True,
    "matplotlib_animations": False,
    "show_memory": False,
    "min_reported_time": 5,
    # The execution-times page loads its table styling from CDNs; the site stays offline.
    "write_computation_times": False,
}

# -- HTML ----------------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"skcatdog {release}"
html_static_path = []
html_theme_options = {
    "navbar_end": ["navbar-icon-links"],
    "show_prev_next": False,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": [],
}
html_sidebars = {
    page: []
    for page in (
        "index",
        "getting_started",
        "api",
        "generated/*",
        "auto_examples/*",
        "performance",
        "whats_new",
        "architecture",
    )
}
html_show_sourcelink = False


# -- References -------------------------------------------------------------------------
# A docstring may name an object by a path the API page does not use: a re-export
# (``skcatdog.backbones.register_backbone`` is documented as ``skcatdog.register_backbone``),
# the private module that defines it, or a name relative to its own module. Such a
# reference is sent to the page where the object is documented; a reference to a real
# object that has no page (a private helper) stays plain code. Only names that do not
# exist at all still fail the nitpicky build.

from _generate import documented_objects, resolve  # noqa: E402

_HOMES = documented_objects()


def _lookup(dotted):
    try:
        return resolve(dotted)
    except (ImportError, AttributeError):
        return None


def _missing_reference(app, env, node, contnode):
    if node.get("refdomain") != "py":
        return None
    target = node["reftarget"].lstrip("~.")
    module, klass = node.get("py:module") or "", node.get("py:class") or ""
    candidates = [target]
    if module:
        candidates += [f"{module}.{klass}.{target}" if klass else None, f"{module}.{target}"]
    for source in (node.source or "",):
        # "…/skcatdog/x.py:docstring of skcatdog.x.f": the defining module's namespace.
        if ":docstring of " in source:
            defined_in = source.rsplit(":docstring of ", 1)[1].rsplit(".", 1)[0]
            candidates += [f"{defined_in}.{target}", f"{defined_in.rsplit('.', 1)[0]}.{target}"]
    # Last, a name defined in another of the package's modules (``EmbeddingStore.get_many``).
    candidates += [f"{m}.{target}" for m in sorted(sys.modules) if m.startswith("skcatdog.")]
    for name in filter(None, candidates):
        if not name.startswith("skcatdog"):
            continue
        obj = _lookup(name)
        if obj is None:
            continue
        owner, _, member = name.rpartition(".")
        home = _HOMES.get(id(obj))
        if home is None:  # a method or attribute: its class's page, if the class has one
            owner_home = _HOMES.get(id(_lookup(owner)))
            home = f"{owner_home}.{member}" if owner_home else None
        if home is not None and home != target:
            py = env.get_domain("py")
            found = py.resolve_any_xref(env, node["refdoc"], app.builder, home, node, contnode)
            if found:
                return found[0][1]
        return contnode  # a real object without a page of its own: plain code
    return None


def _skip_foreign_member(app, what, name, obj, skip, options):
    # Methods scikit-learn adds to every estimator (set_fit_request and the like) are
    # documented by scikit-learn; a class page lists what skcatdog defines.
    module = getattr(obj, "__module__", None) or getattr(getattr(obj, "fget", None), "__module__", None)
    if what == "class" and module and not module.startswith("skcatdog"):
        return True
    return None


def setup(app):
    app.connect("missing-reference", _missing_reference)
    app.connect("autodoc-skip-member", _skip_foreign_member)
