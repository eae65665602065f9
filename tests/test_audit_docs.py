"""What the audit page states comes from the code: defaults, bounds, the checks it lists."""

import inspect
import re
from pathlib import Path

import pytest

from skcatdog.audit import ISSUES, QUALITY_CHECKS, find_issues
from skcatdog.audit.duplicates import MIN_PRINT_SIMILARITY, NEAR_DISTANCE, UNCONFIRMED_NEAR_DISTANCE
from skcatdog.audit.labels import LABEL_CROSSOVER, LARGE_FOLDS, N_COMPONENTS, REFERENCE
from skcatdog.neighbours import CROSSOVER

PAGE = Path(__file__).resolve().parents[1] / "doc" / "user_guide" / "audit.rst"
TEXT = " ".join(PAGE.read_text(encoding="utf-8").split())  # one line: statements may wrap
DEFAULTS = {name: p.default for name, p in inspect.signature(find_issues).parameters.items()}
STATED = re.findall(r"``(\w+)``[^`]{0,25}?default ([0-9][0-9.,]*)", TEXT)


def test_the_page_states_some_defaults():
    assert {name for name, _ in STATED} >= {"label_fraction", "top_k", "flag_fraction"}


def test_the_page_states_what_auto_near_distances_are():
    assert DEFAULTS["near_duplicate_distance"] == "auto"
    assert f'``"auto"``, the default, is {NEAR_DISTANCE:g} for photos' in TEXT
    assert f'So ``"auto"`` is tighter here, {UNCONFIRMED_NEAR_DISTANCE:g}' in TEXT


@pytest.mark.parametrize(("name", "value"), STATED, ids=[name for name, _ in STATED])
def test_each_stated_default_is_the_codes(name, value):
    assert name in DEFAULTS, f"the audit page speaks of a parameter {name!r} that find_issues does not have"
    assert float(value.replace(",", "")) == DEFAULTS[name], f"the page says {name} defaults to {value}"


def test_the_page_lists_every_check_and_states_the_codes_bounds():
    for issue in ISSUES:
        assert f"``{issue}``" in TEXT, f"the audit page does not list {issue}"
    assert f"correlate at {MIN_PRINT_SIMILARITY:g} or more" in TEXT
    assert f"up to {CROSSOVER:,} photos the embeddings are compared exactly" in TEXT
    assert f"a side under {QUALITY_CHECKS['tiny'][2]:g} pixels" in TEXT
    assert QUALITY_CHECKS["odd_aspect"][2] == 3.0 and "over three times the other" in TEXT


def test_the_page_states_where_the_label_check_scales():
    assert f"Up to {LABEL_CROSSOVER:,} photos the classifier learns on the full embeddings in 5 folds" in TEXT
    assert f"past that, on {N_COMPONENTS} principal components (fitted on {REFERENCE:,} photos" in TEXT
    assert LARGE_FOLDS == 3 and "in 3 folds, and a photo's neighbours are sought among those" in TEXT
