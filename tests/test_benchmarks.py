"""The benchmarks share one harness: the photo folder is named once, and every script writes its table.

Static checks of ``benchmarks/`` (nothing is measured here: speed targets live in the benchmarks
themselves), and the harness's result file, which the documentation's performance page reads.
"""

import ast
import importlib.util
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks"
HARNESS = BENCH / "_common.py"
SCRIPTS = sorted(BENCH.glob("bench_*.py"))
# Every spelling the photo folder has had: the data set's folder name and the shared folder beside the checkout.
PHOTO_PATH = re.compile(r"dogs-vs-cats|dogs_vs_cats|\.\./shared|[\"']shared[\"']")


def _harness():
    spec = importlib.util.spec_from_file_location("_common", HARNESS)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _imports(tree):
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    return names


def _calls(tree):
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            out.add(f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", None))
    return out


def test_there_are_benchmarks():
    assert len(SCRIPTS) >= 9 and HARNESS.is_file()


def test_only_the_harness_names_the_photo_folder():
    found = []
    for path in sorted(BENCH.rglob("*")):
        if path == HARNESS or not path.is_file() or path.suffix not in (".py", ".md", ".sh", ".txt"):
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if PHOTO_PATH.search(line):
                found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not found, "the photo folder belongs in benchmarks/_common.py (--data, SKCATDOG_DATA):\n" + "\n".join(found)


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: p.name)
def test_each_benchmark_runs_on_the_harness(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    assert "_common" in _imports(tree), f"{path.name} does not import the harness (benchmarks/_common.py)"
    calls = _calls(tree)
    assert "write_result" in calls, f"{path.name} writes no result CSV (the harness's write_result)"
    assert "parser" in calls, f"{path.name} does not take the harness's --data and --out (bench.parser)"
    assert "ArgumentParser" not in calls, f"{path.name} builds its own parser"


@pytest.mark.parametrize("path", [*SCRIPTS, *sorted((BENCH / "children").glob("*.py"))], ids=lambda p: p.name)
def test_no_program_hides_in_a_string(path):
    # A child program is a module in benchmarks/children/ (ruff checks it), run by the harness.
    tree = ast.parse(path.read_text(encoding="utf-8"))
    code = [
        n.value[:60]
        for n in ast.walk(tree)
        if isinstance(n, ast.Constant) and isinstance(n.value, str) and re.search(r"^\s*import \w+", n.value, re.M)
    ]
    assert not code, f"{path.name} holds Python in a string: {code}"


def test_every_child_is_run():
    sources = "\n".join(p.read_text(encoding="utf-8") for p in SCRIPTS)
    for child in sorted((BENCH / "children").glob("*.py")):
        assert f'"{child.stem}"' in sources, f"children/{child.name} is run by no benchmark"


def test_result_file_has_the_machine_header(tmp_path, monkeypatch, capsys):
    bench = _harness()
    monkeypatch.setattr(sys, "argv", [str(BENCH / "bench_example.py"), "--limit", "8"])
    path = bench.write_result(
        "example",
        ["measure", "value"],
        [["speed", 1.5], ["ratio", 0.25]],
        title="An example",
        what="Two rows",
        out=tmp_path,
    )
    lines = path.read_text(encoding="utf-8").splitlines()
    meta = dict(line[2:].split(": ", 1) for line in lines if line.startswith("# "))
    assert meta["title"] == "An example" and meta["what"] == "Two rows"
    assert meta["command"] == "python benchmarks/bench_example.py --limit 8"
    assert re.fullmatch(r"CPU .+ \(\d+ cores; [^)]+\); GPU .+", meta["machine"]), meta["machine"]
    assert meta["machine"] == bench.machine_line()
    assert [line for line in lines if not line.startswith("#")] == ["measure,value", "speed,1.5", "ratio,0.25"]
    assert "| speed | 1.5 |" in capsys.readouterr().out  # the same table, printed

    # A rerun keeps the file's hand-written note and its place on the performance page.
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("# order: 99", "# order: 7\n# note: read me"), encoding="utf-8")
    bench.write_result("example", ["measure", "value"], [["speed", 2.0]], title="An example", what="One", out=tmp_path)
    meta = dict(line[2:].split(": ", 1) for line in path.read_text(encoding="utf-8").splitlines() if line[0] == "#")
    assert meta["order"] == "7" and meta["note"] == "read me"


def test_photo_folder_comes_from_the_argument_then_the_environment(tmp_path, monkeypatch):
    bench = _harness()
    given, env = tmp_path / "given", tmp_path / "env"
    for folder in (given, env):
        for label in ("cat", "dog"):
            (folder / label).mkdir(parents=True)
            (folder / label / f"{label}.1.jpg").write_bytes(b"")
    monkeypatch.setenv(bench.DATA_ENV, str(env))
    assert bench.data_folder(str(given)) == given
    assert bench.data_folder() == env
    monkeypatch.delenv(bench.DATA_ENV)
    assert bench.data_folder() == bench.DEFAULT_DATA or not bench.DEFAULT_DATA.is_dir()
    with pytest.raises(SystemExit, match="--data"):
        bench.data_folder(str(tmp_path / "missing"))
    # The datasets' home (the package's other use of the variable) holds no photos one level down.
    (tmp_path / "home" / "dogs_vs_cats" / "PetImages" / "Cat").mkdir(parents=True)
    with pytest.raises(SystemExit, match="sub-folders"):
        bench.data_folder(str(tmp_path / "home"))
