"""Every dotted ``skcatdog.…`` name written in the examples, benchmarks, README and docstrings exists."""

import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FILES = sorted(
    [*ROOT.glob("examples/*.py"), *ROOT.glob("benchmarks/*.py"), *ROOT.glob("skcatdog/**/*.py"), ROOT / "README.md"]
)
# `skcatdog.metrics.FitOnInliers`, not `skcatdog/cli.py` nor the `skcatdog.cli:main` entry point's tail.
DOTTED = re.compile(r"(?<![\w/.-])skcatdog(?:\.[A-Za-z_]\w*)+")


def _resolve(dotted):
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for name in parts[cut:]:
            obj = getattr(obj, name)  # AttributeError: the name does not exist
        return obj
    raise ImportError(dotted)


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_dotted_names_resolve(path):
    names = sorted(set(DOTTED.findall(path.read_text(encoding="utf-8"))))
    missing = []
    for name in names:
        if name.endswith(".py"):  # a module path written with dots, e.g. in prose
            continue
        try:
            _resolve(name)
        except (ImportError, AttributeError):
            missing.append(name)
    assert not missing, f"{path.relative_to(ROOT)} names {missing}, which do not exist"
