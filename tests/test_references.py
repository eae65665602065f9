"""Every dotted ``skcatdog.…`` name written in the examples, benchmarks, README and docstrings exists."""

import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FILES = sorted(
    [*ROOT.glob("examples/*.py"), *ROOT.glob("benchmarks/*.py"), *ROOT.glob("skcatdog/**/*.py"), ROOT / "README.md"]
)
# `skcatdog.metrics.FitOnInliers`, not `skcatdog/cli.py` nor the `skcatdog.cli:main` entry point's tail.
DOTTED = re.compile(r"(?<![\w/.-])skcatdog(?:\.[A-Za-z_]\w*)+")


def _generate():
    spec = importlib.util.spec_from_file_location("skcatdog_doc_generate", ROOT / "doc" / "_generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# The docs build resolves its references with the same function.
_resolve = _generate().resolve


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_dotted_names_resolve(path):
    names = sorted(set(DOTTED.findall(path.read_text(encoding="utf-8"))))
    missing = []
    for name in names:
        if name.endswith(".py"):  # a module path written with dots, e.g. in prose
            continue
        if "__main__" in name.split("."):  # importing it would run the command line
            continue
        try:
            _resolve(name)
        except (ImportError, AttributeError):
            missing.append(name)
    assert not missing, f"{path.relative_to(ROOT)} names {missing}, which do not exist"
