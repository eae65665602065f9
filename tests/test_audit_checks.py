"""The audit's checks: the registry, a check of the user's own in the result and on the page, bad checks."""

import numpy as np
import pytest

from skcatdog import find_issues
from skcatdog.audit import (
    ISSUES,
    NEEDS,
    IssueCheck,
    available_checks,
    get_check,
    issue_frame,
    register_check,
    unregister_check,
)
from skcatdog.audit.report import default_decisions, render
from tests.conftest import random_images


def _find(X, y=None, **kw):
    return find_issues(X, y, backbone="tiny_test", **kw)


class Wide(IssueCheck):
    """Flags photos wider than they are high (a user's check)."""

    name = "wide"
    needs = frozenset({"pixel_measures"})
    description = "wider than high"

    def find(self, context):
        m = context.measures
        rows = np.flatnonzero(m["width"].to_numpy() > m["height"].to_numpy())
        return issue_frame(rows, np.ones(len(rows)), detail="wider than high")


@pytest.fixture
def registered():
    added = []

    def add(check, **kw):
        added.append(check.name)
        return register_check(check, **kw)

    yield add
    for name in added:
        unregister_check(name)


def test_the_registry_holds_the_built_in_issues_in_order():
    assert tuple(available_checks()) == ISSUES
    for name in ISSUES:
        check = get_check(name)
        assert check.name == name and check.description and set(check.needs) <= set(NEEDS)


def test_a_registered_check_reports_in_find_issues_and_on_the_page(registered):
    registered(Wide())
    photos = random_images(4, size=(40, 80)) + random_images(3, seed=1, size=(80, 40))
    issues = _find(photos)
    wide = issues[issues.issue == "wide"]
    assert sorted(wide.item) == ["X[0] (array)", "X[1] (array)", "X[2] (array)", "X[3] (array)"]
    assert (wide.detail == "wider than high").all() and wide.score.eq(1.0).all()
    assert list(issues.issue.unique()[-1:]) == ["wide"]  # after the built-in issues
    page = render(issues, "audit", lambda item: "")
    assert "wide (4)" in page and "wider than high" in page
    assert {action for item, action, _ in default_decisions(issues) if item in set(wide.item)} == {"keep"}
    # Selected alone, it runs alone.
    assert set(_find(photos, checks=["wide"]).issue) == {"wide"}


def test_only_what_the_selected_checks_need_is_computed(registered):
    seen = {}

    class Spy(IssueCheck):
        name = "spy"
        needs = frozenset({"embeddings"})

        def find(self, context):
            seen["measures"] = context.measures
            seen["test"] = context.test
            return issue_frame([], [])

    registered(Spy())
    photos = random_images(5)
    assert _find(photos, X_test=photos[:2], checks=["spy"]).empty
    assert seen == {"measures": None, "test": None}


def test_checks_that_need_labels_or_a_test_set_are_skipped_without_them(registered):
    calls = []

    class NeedsTest(IssueCheck):
        name = "needs_test"
        needs = frozenset({"test_set", "embeddings"})

        def find(self, context):
            calls.append(len(context.test))
            return issue_frame([0], [1.0])

    registered(NeedsTest())
    photos = random_images(5)
    assert "needs_test" not in set(_find(photos).issue)
    assert calls == []
    assert "needs_test" in set(_find(photos, X_test=photos[:2]).issue)
    assert calls == [2]


def test_registering_refuses_what_is_not_a_check():
    with pytest.raises(TypeError, match=r"got the class Wide: register Wide\(\)"):
        register_check(Wide)
    with pytest.raises(ValueError, match="'near_duplicate' is already registered"):
        register_check(get_check("near_duplicate"))

    class Blind(Wide):
        name = "blind"
        needs = frozenset({"x_rays"})

    with pytest.raises(ValueError, match=r"check 'blind' needs \['x_rays'\], which the audit does not know"):
        register_check(Blind())
    with pytest.raises(ValueError, match="unknown check 'nope'"):
        get_check("nope")
    with pytest.raises(ValueError, match=r"unknown checks \['nope'\]"):
        _find(random_images(3), checks=["nope"])


@pytest.mark.parametrize(
    ("found", "message"),
    [
        ([1, 2], "check 'broken' returned list; find.. must return a DataFrame"),
        (issue_frame([0], [1.0]).drop(columns="score"), "'index' and 'score' are required"),
        (issue_frame([0], [1.0]).assign(colour="red"), "only .* are allowed"),
        (issue_frame([99], [1.0]), "an index that is not a position in X"),
    ],
)
def test_a_check_returning_a_bad_table_is_named(registered, found, message):
    class Broken(IssueCheck):
        name = "broken"

        def find(self, context):
            return found

    registered(Broken())
    with pytest.raises((TypeError, ValueError), match=message):
        _find(random_images(3), checks=["broken"])


def test_a_check_may_be_replaced_and_the_built_in_one_restored(registered):
    original = get_check("dark")

    class Never(IssueCheck):
        name = "dark"
        needs = frozenset()

        def find(self, context):
            return issue_frame([], [])

    photos = random_images(20) + [np.full((40, 30, 3), 3, np.uint8)]
    assert "dark" in set(_find(photos, flag_fraction=0.1).issue)
    register_check(Never(), replace=True)
    try:
        assert "dark" not in set(_find(photos, flag_fraction=0.1).issue)
    finally:
        register_check(original, replace=True)
    assert tuple(available_checks()) == ISSUES
