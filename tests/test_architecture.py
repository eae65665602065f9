"""The package's layering rules, checked from its source (tools/import_graph.py draws the graph)."""

import ast
import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("import_graph", ROOT / "tools" / "import_graph.py")
import_graph = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(import_graph)


def test_no_import_cycle():
    assert import_graph.cycles() == []


def test_no_private_name_crosses_a_subpackage():
    assert import_graph.private_uses() == []


@pytest.mark.parametrize("layer", ["_engine", "_store"])
def test_no_class_or_function_in_the_lower_layers_is_over_200_lines(layer):
    long = []
    for path in sorted((ROOT / "skcatdog" / layer).glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.ClassDef, ast.FunctionDef)) and node.end_lineno - node.lineno + 1 > 200:
                long.append(f"{path.name}:{node.name} ({node.end_lineno - node.lineno + 1} lines)")
    assert long == []


def test_the_engine_never_asks_which_store_backend_it_has():
    backends = {"SQLiteStore", "ShardStore", "NullStore", "CachedStore"}
    found = []
    for path in sorted((ROOT / "skcatdog" / "_engine").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) in ("isinstance", "getattr"):
                names = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)} | {
                    n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)
                }
                if names & (backends | {"url", "directory"}):
                    found.append(f"{path.name}:{node.lineno}")
    assert found == []


def test_the_store_layer_does_not_import_the_engine():
    edges, _ = import_graph.edges_and_names()
    assert not [(m, t) for m, ts in edges.items() if m.startswith("skcatdog._store") for t in ts if "_engine" in t]


def test_the_runtimes_know_neither_the_store_nor_the_engine():
    # A runtime gets the folder for its converted models from its caller.
    edges, _ = import_graph.edges_and_names()
    found = [
        (m, t)
        for m, ts in edges.items()
        if m.startswith("skcatdog._runtimes")
        for t in ts
        if t.startswith(("skcatdog._store", "skcatdog._engine"))
    ]
    assert found == []
