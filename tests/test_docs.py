"""The documentation: the README's shape, the generated API and performance pages, no lab-notebook words.

The site itself is built by ``.ci/run`` (``sphinx-build -W -n``) and checked in Chromium by
``tools/check_docs_render.py``; these tests cover what can be checked without building it.
"""

import importlib
import importlib.util
import re
from pathlib import Path

import pytest

import skcatdog

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
RESULTS = ROOT / "benchmarks" / "results"

# What a user must never read: benchmark-run letters, development stages, the machines the
# figures came from (the done-when check).
LAB_WORDS = re.compile(r"[Ss]top [0-9]|[Rr]uns? [A-N]( |,|$)|this VM|[Ff]irecracker|lent GPU|borrowed GPU", re.M)


def _generate():
    spec = importlib.util.spec_from_file_location("skcatdog_doc_generate", ROOT / "doc" / "_generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _user_text_files():
    # What a docs build writes into doc/ is made from the files checked here.
    built = {"_build", "_generated", "generated", "auto_examples", "api.rst", "sg_execution_times.rst"}
    doc = [p for p in (ROOT / "doc").rglob("*") if p.suffix in (".rst", ".py") and not built & set(p.parts)]
    return [README, *doc, *ROOT.glob("examples/*"), *ROOT.glob("skcatdog/**/*.py")]


def test_readme_is_short():
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 150, f"README.md has {len(lines)} lines; the details belong in doc/"


def test_readme_links_resolve():
    text = README.read_text(encoding="utf-8")
    targets = [t for t in re.findall(r"\]\(([^)#]+)\)", text) if "://" not in t]
    assert targets
    missing = [t for t in targets if not (ROOT / t).exists()]
    assert not missing, f"README.md links to {missing}, which do not exist"


@pytest.mark.parametrize("path", _user_text_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_lab_notebook_words(path):
    if path.suffix not in (".md", ".rst", ".py", ".txt"):
        pytest.skip("not text")
    found = [m.group(0) for m in LAB_WORDS.finditer(path.read_text(encoding="utf-8"))]
    assert not found, f"{path.relative_to(ROOT)} speaks of its development: {found}"


def test_api_page_lists_every_public_name(tmp_path):
    generate = _generate()
    page = generate.write_api_pages(tmp_path / "api.rst").read_text(encoding="utf-8")
    sections = dict(re.findall(r"^\.\. module:: (\S+)\n(.*?)(?=^\.\. module:: |\Z)", page, flags=re.M | re.S))
    modules = generate.public_modules()
    assert modules[0] is skcatdog
    assert {"skcatdog.distributed", "skcatdog.model_files", "skcatdog.metrics"} <= set(sections)
    for module in modules:
        body = sections[module.__name__]
        for name in module.__all__:
            listed = (
                re.search(rf"^   {re.escape(name)}$", body, flags=re.M)  # an autosummary entry
                or f".. py:data:: {name}\n" in body  # re-exported from another project
                or f"``{module.__name__}.{name}``" in body  # the same object as one documented elsewhere
            )
            assert listed, f"{module.__name__}.{name} is not on the API page"


def test_api_page_documents_each_object_once(tmp_path):
    generate = _generate()
    homes = generate.documented_objects()
    for name in skcatdog.__all__:
        obj = getattr(skcatdog, name)
        if id(obj) in homes:
            assert homes[id(obj)] == f"skcatdog.{name}", "the top level is where a user meets a name first"


def test_every_result_file_says_where_and_how(tmp_path):
    generate = _generate()
    files = sorted(RESULTS.glob("*.csv"))
    assert files, "benchmarks/results/ holds the measured tables"
    for path in files:
        meta, header, rows = generate._read_result(path)
        for key in ("title", "machine", "command"):
            assert meta.get(key), f"{path.name} has no '# {key}:' line"
        assert rows and all(len(row) == len(header) for row in rows), f"{path.name}: ragged table"
        assert meta["command"].startswith("python "), f"{path.name}: the command reproduces it from the repo root"
    page = generate.write_performance_page(RESULTS, tmp_path / "performance.rst").read_text(encoding="utf-8")
    for path in files:
        assert generate._read_result(path)[0]["title"] in page


def test_version_is_a_release():
    assert re.fullmatch(r"\d+\.\d+\.\d+", skcatdog.__version__), "tags are vX.Y.Z (CONTRIBUTING.md)"


def _run_example(name, tmp_path, **env):
    import os
    import subprocess
    import sys

    environ = {k: v for k, v in os.environ.items() if not k.startswith("SKCATDOG_EXAMPLE_")}
    environ.update(MPLBACKEND="Agg", PYTHONPATH=str(ROOT), SKCATDOG_DATA=str(tmp_path / "no-data"), **env)
    # The gallery runs each script from examples/, as sphinx-gallery does.
    return subprocess.run(
        [sys.executable, name], cwd=ROOT / "examples", env=environ, capture_output=True, text=True, timeout=300
    )


def test_gallery_speed_bars_read_the_result_files(tmp_path):
    proc = _run_example("plot_runtime_speed.py", tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "not found" not in proc.stdout


@pytest.mark.parametrize("name", ["plot_calibration.py", "plot_active_learning.py", "plot_outlier_contact_sheet.py"])
def test_gallery_examples_explain_missing_photos(name, tmp_path):
    proc = _run_example(name, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "This example needs photos" in proc.stdout and "SKCATDOG_EXAMPLE_PHOTOS" in proc.stdout
