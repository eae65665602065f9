"""Draw skcatdog's import graph from its source (``ast``), and check its rules.

    python tools/import_graph.py            # prints the layers' edges and any violation
    python tools/import_graph.py --dot      # Graphviz of module -> module imports

Rules (tests/test_architecture.py runs the same checks):

* no import cycle between modules (imports inside functions count too: a lazy
  import still ties two modules together);
* no module uses a private name (``_name``) of another package module, except
  inside its own subpackage.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

PACKAGE = "skcatdog"
ROOT = Path(__file__).resolve().parents[1] / PACKAGE


def module_name(path):
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _resolve(module, level, current, is_package):
    if level == 0:
        return module
    base = current.split(".") if is_package else current.split(".")[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([module] if module else []))


def modules():
    return {module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def edges_and_names():
    """``{module: {imported module}}`` and ``[(module, imported module, name)]`` of names used."""
    mods = modules()
    edges = {m: set() for m in mods}
    uses = []
    for mod, path in mods.items():
        tree = ast.parse(path.read_text(), str(path))
        is_package = path.name == "__init__.py"
        aliases = {}  # local name -> package module it names
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                target = _resolve(node.module, node.level, mod, is_package)
                if not target.startswith(PACKAGE):
                    continue
                for alias in node.names:
                    sub = f"{target}.{alias.name}"
                    if sub in mods:  # `from . import _engine` imports a module
                        edges[mod].add(sub)
                        aliases[alias.asname or alias.name] = sub
                    else:
                        edges[mod].add(target)
                        uses.append((mod, target, alias.name))
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.startswith(PACKAGE):
                        edges[mod].add(alias.name)
                        if alias.asname:
                            aliases[alias.asname] = alias.name
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases:
                uses.append((mod, aliases[node.value.id], node.attr))
        edges[mod].discard(mod)
    return edges, uses


def _subpackage(mod, mods):
    """The package a module belongs to (itself for a package's __init__)."""
    path = mods[mod]
    return mod if path.name == "__init__.py" else mod.rpartition(".")[0]


def private_uses():
    """``(module, imported module, name)`` for each private name used across subpackages."""
    mods = modules()
    _, uses = edges_and_names()
    bad = []
    for mod, target, name in uses:
        if not name.startswith("_") or name.startswith("__"):
            continue
        if target == PACKAGE and name == "_version":
            continue
        inside = _subpackage(target, mods)
        if inside != PACKAGE and (mod == inside or mod.startswith(inside + ".")):
            continue  # within its own subpackage
        bad.append((mod, target, name))
    return sorted(set(bad))


def cycles():
    """Import cycles between modules, each as a list of modules (strongly connected components)."""
    edges, _ = edges_and_names()
    # A package's __init__ re-exporting its modules is not a cycle with them.
    graph = {
        m: {t for t in ts if t in edges and not (m.startswith(t + ".") and edges.get(t))} for m, ts in edges.items()
    }
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10_000)
    for v in graph:
        if v not in index:
            visit(v)
    return out


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    edges, _ = edges_and_names()
    if "--dot" in argv:
        print("digraph skcatdog {")
        for m, ts in sorted(edges.items()):
            for t in sorted(ts):
                print(f'  "{m}" -> "{t}";')
        print("}")
        return 0
    found = cycles()
    private = private_uses()
    for comp in found:
        print("cycle:", " <-> ".join(comp))
    for mod, target, name in private:
        print(f"private name: {mod} uses {target}.{name}")
    n_imports = sum(map(len, edges.values()))
    print(f"{len(edges)} modules, {n_imports} imports, {len(found)} cycles, {len(private)} private uses")
    return 1 if found or private else 0


if __name__ == "__main__":
    sys.exit(main())
