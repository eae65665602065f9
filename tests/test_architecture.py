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


def test_no_function_in_the_package_is_over_90_lines_of_code():
    # A reader holds a function in their head; past 90 lines (its docstring aside) it is split by phase.
    long = []
    for path in sorted((ROOT / "skcatdog").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                doc = ast.get_docstring(node)
                lines = node.end_lineno - node.lineno + 1 - (len(doc.splitlines()) + 2 if doc else 0)
                if lines > 90:
                    long.append(f"{path.relative_to(ROOT)}:{node.name} ({lines} lines)")
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


def _sources():
    for path in sorted((ROOT / "skcatdog").rglob("*.py")):
        yield path, ast.parse(path.read_text())


def test_no_sql_runs_against_another_library_tables():
    import re

    statements = [
        node.value
        for _, tree in _sources()
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    ]
    created = {m for s in statements for m in re.findall(r"CREATE TABLE IF NOT EXISTS (\w+)", s)}
    used = {m for s in statements for m in re.findall(r"\b(?:FROM|JOIN|INTO|UPDATE)\s+([A-Za-z_]\w*)", s)}
    assert created, "the local store's schema was not found"
    assert used - created == set(), "SQL against tables this package does not create"


def _protocol_methods(protocol):
    import inspect

    return {
        name: inspect.signature(member)
        for name, member in vars(protocol).items()
        if inspect.isfunction(member) and not name.startswith("_")
    }


def test_the_cached_store_and_every_backend_have_the_protocol_methods_with_one_signature(tmp_path):
    import inspect

    from skcatdog._store import CachedStore, DigestMemo, MeasureTable, Store
    from skcatdog._store.null import NullStore
    from skcatdog._store.shards import ShardStore
    from skcatdog._store.sqlite import SQLiteStore

    backends = [
        SQLiteStore(tmp_path / "a"),
        ShardStore(f"file://{tmp_path}/b", local_cache=tmp_path / "c"),
        NullStore(),
    ]
    stores = backends + [CachedStore(b) for b in backends]
    differ = []
    for protocol, of in ((Store, lambda s: s), (DigestMemo, lambda s: s.digests), (MeasureTable, lambda s: s.measures)):
        for name, signature in _protocol_methods(protocol).items():
            for store in stores:
                method = getattr(type(of(store)), name, None)
                if method is None or inspect.signature(method) != signature:
                    differ.append(f"{type(of(store)).__qualname__}.{name} of {store!r}")
        for store in stores:
            assert isinstance(of(store), protocol)
    assert differ == []


def test_no_key_is_built_outside_the_keys_module():
    import re

    def names(node):
        return " ".join(ast.unparse(n) for n in ast.walk(node) if isinstance(n, (ast.Name, ast.Attribute)))

    keyish = re.compile(r"digest|fingerprint", re.IGNORECASE)
    found = []
    for path, tree in _sources():
        if path == ROOT / "skcatdog" / "_store" / "keys.py":
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.JoinedStr):
                text = "".join(v.value for v in node.values if isinstance(v, ast.Constant))
                formatted = " ".join(names(v) for v in node.values if isinstance(v, ast.FormattedValue))
            elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
                parts = (node.left, node.right)
                text = "".join(p.value for p in parts if isinstance(p, ast.Constant) and isinstance(p.value, str))
                formatted = " ".join(names(p) for p in parts)
            else:
                continue
            if "/" in text and keyish.search(formatted):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert found == [], "store keys are made in skcatdog/_store/keys.py"
