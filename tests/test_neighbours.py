"""Near pairs of embeddings: the exact product, the approximate indexes (a subset of the exact
pairs, with exact distances), leaks across two sets, the saved index and its refusals, bad input."""

import importlib.util
import warnings
from pathlib import Path

import numpy as np
import pytest

from skcatdog._validation import InvalidParameterError
from skcatdog.neighbours import BACKENDS, NeighbourIndex, near_pairs

MISSING = {"faiss": "faiss", "usearch": "usearch"}
LIBRARIES = [
    pytest.param(
        name,
        marks=pytest.mark.skipif(
            importlib.util.find_spec(MISSING[name]) is None,
            reason=f'{name} is not installed (pip install "skcatdog[{BACKENDS[name]}]")',
        ),
    )
    for name in BACKENDS
]


def _rows(n=400, d=64, copies=30, max_distance=0.1, seed=0):
    """Random rows (far apart in 64 columns) with ``copies`` rows overwritten by copies of others
    at known cosine distances below ``max_distance``; returns the rows and the planted pairs."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d)).astype(np.float32)
    rows = rng.choice(n, 2 * copies, replace=False)
    planted = set()
    for s, c in zip(rows[:copies], rows[copies:], strict=True):
        u = x[s] / np.linalg.norm(x[s])
        v = rng.standard_normal(d)
        v -= (v @ u) * u
        v /= np.linalg.norm(v)
        cos = 1 - rng.uniform(0.1, 0.9) * max_distance
        x[c] = 3.0 * (cos * u + np.sqrt(1 - cos**2) * v)
        planted.add((min(s, c), max(s, c)))
    return x, planted


def _brute(a, b=None, max_distance=0.1):
    ua = a / np.linalg.norm(a, axis=1, keepdims=True)
    ub = ua if b is None else b / np.linalg.norm(b, axis=1, keepdims=True)
    d = 1 - ua.astype(np.float64) @ ub.T.astype(np.float64)
    i, j = np.nonzero(d <= max_distance)
    keep = i < j if b is None else np.ones(len(i), bool)
    return {(int(p), int(q)): d[p, q] for p, q in zip(i[keep], j[keep], strict=True)}


def _check_exact_distances(pairs, reference):
    for i, j, d in pairs:
        assert (i, j) in reference
        assert d == pytest.approx(reference[(i, j)], abs=1e-5)


def test_exact_search_finds_every_pair_once_with_its_distance():
    x, planted = _rows()
    pairs = near_pairs(x, max_distance=0.1, method="exact")
    reference = _brute(x)
    assert {(i, j) for i, j, _ in pairs} == set(reference) >= planted
    assert all(i < j for i, j, _ in pairs) and pairs == sorted(pairs)
    _check_exact_distances(pairs, reference)


def test_pairs_across_a_block_boundary_are_found():
    x, _ = _rows(n=50, copies=10)
    whole = near_pairs(x, max_distance=0.1, method="exact")
    assert near_pairs(x, max_distance=0.1, method="exact", chunk=7) == whole
    assert any(i // 7 != j // 7 for i, j, _ in whole)  # the blocks split some pairs


@pytest.mark.parametrize("backend", LIBRARIES)
def test_approximate_pairs_are_exact_pairs_with_exact_distances(backend):
    x, planted = _rows()
    pairs = near_pairs(x, max_distance=0.1, method="approximate", backend=backend, n_components=16, chunk=64)
    reference = _brute(x)
    _check_exact_distances(pairs, reference)
    found = {(i, j) for i, j, _ in pairs}
    assert len(found & planted) >= 0.95 * len(planted)
    assert len(pairs) == len(found) and all(i < j for i, j, _ in pairs)


@pytest.mark.parametrize("method", ["exact", pytest.param("approximate", marks=LIBRARIES[0].marks)])
def test_leaks_pair_rows_of_one_set_with_rows_of_the_other(method):
    x, _ = _rows(n=300, copies=0)
    rng = np.random.default_rng(1)
    test = rng.standard_normal((40, x.shape[1])).astype(np.float32)
    test[5] = x[17] * 2 + 0.01 * rng.standard_normal(x.shape[1])
    test[9] = x[250]
    pairs = near_pairs(x, test, max_distance=0.1, method=method, n_components=16)
    assert [(i, j) for i, j, _ in pairs] == [(17, 5), (250, 9)]
    _check_exact_distances(pairs, _brute(x, test))


@pytest.mark.skipif(importlib.util.find_spec("faiss") is None, reason="faiss is not installed (skcatdog[ann])")
def test_auto_is_exact_up_to_the_crossover_and_approximate_above():
    x, planted = _rows()
    assert NeighbourIndex(crossover=400).fit(x).method_ == "exact"
    assert NeighbourIndex(crossover=399, n_components=16).fit(x).method_ == "approximate"
    pairs = near_pairs(x, max_distance=0.1, crossover=100, n_components=16)
    assert {(i, j) for i, j, _ in pairs} >= planted


def test_auto_without_the_library_searches_exactly_and_says_so(monkeypatch):
    from skcatdog._neighbours import faiss_ivf

    monkeypatch.setattr(faiss_ivf, "available", lambda: False)
    x, planted = _rows(n=100, copies=5)
    with pytest.warns(UserWarning, match=r"skcatdog\[ann\]"):
        index = NeighbourIndex(crossover=10).fit(x)
    assert index.method_ == "exact"
    with pytest.raises(ImportError, match=r"skcatdog\[ann\]"):
        NeighbourIndex(method="approximate").fit(x)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert NeighbourIndex().fit(x).method_ == "exact"  # below the crossover: nothing to say


@pytest.mark.parametrize("method", ["exact", pytest.param("approximate", marks=LIBRARIES[0].marks)])
def test_a_saved_index_answers_as_the_fitted_one(tmp_path, method):
    x, _ = _rows()
    new = x[[3, 77]] * 1.5
    index = NeighbourIndex(model="lite2-abc", method=method, n_components=16).fit(x)
    path = index.save(tmp_path / "train.npz")
    assert [p.name for p in tmp_path.iterdir()] == ["train.npz"]  # written whole, nothing left beside it
    loaded = NeighbourIndex(model="lite2-abc", method=method, n_components=16).load(path)
    assert loaded.method_ == method and loaded.n_indexed_ == len(x)
    assert loaded.query(new, max_distance=0.1) == index.query(new, max_distance=0.1)
    assert {(i, j) for i, j, _ in loaded.query(new, max_distance=0.1)} >= {(0, 3), (1, 77)}


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"model": "another-model"}, "model 'lite2-abc', not 'another-model'"),
        ({"n_components": 8}, "n_components=16"),
        ({"method": "approximate"}, "method='exact'"),
        ({"dimension": 32}, "64 columns, not dimension=32"),
    ],
)
def test_an_index_built_otherwise_is_refused(tmp_path, settings, message):
    x, _ = _rows(n=50, copies=0)
    path = NeighbourIndex(model="lite2-abc", method="exact", n_components=16).fit(x).save(tmp_path / "i.npz")
    params = {"model": "lite2-abc", "method": "exact", "n_components": 16, **settings}
    with pytest.raises(ValueError, match=message):
        NeighbourIndex(**params).load(path)


def test_a_query_of_another_width_is_refused():
    index = NeighbourIndex().fit(np.eye(4, dtype=np.float32))
    with pytest.raises(ValueError, match="3 columns, but the rows it is compared with have 4"):
        index.query(np.ones((2, 3), np.float32))


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (np.ones(5, np.float32), "must be a 2-D array"),
        (np.ones((2, 3, 4), np.float32), "must be a 2-D array"),
        (np.ones((5, 0), np.float32), "zero columns"),
        (np.ones((5, 3), np.int64), "must hold floats"),
        (np.array([[1, 2], [3, np.nan], [np.nan, 1]], np.float32), "NaN or infinite values, first in row 1"),
        (np.array([[1, 2], [3, 4], [np.inf, 1]], np.float64), "NaN or infinite values, first in row 2"),
    ],
)
def test_bad_embeddings_are_refused_with_the_reason(rows, message):
    with pytest.raises(ValueError, match=rf"^embeddings .*{message}"):
        near_pairs(rows, max_distance=0.1)
    width = rows.shape[1] if rows.ndim == 2 and rows.shape[1] else 3
    with pytest.raises(ValueError, match=rf"^other .*{message}"):
        near_pairs(np.ones((3, width), np.float32), rows, max_distance=0.1)


def test_other_of_another_width_and_bad_settings_are_refused():
    with pytest.raises(ValueError, match="other has 4 columns, but the rows it is compared with have 3"):
        near_pairs(np.ones((3, 3), np.float32), np.ones((2, 4), np.float32))
    with pytest.raises(InvalidParameterError, match="max_distance"):
        near_pairs(np.ones((3, 3), np.float32), max_distance=-0.1)
    with pytest.raises(InvalidParameterError, match="method"):
        near_pairs(np.ones((3, 3), np.float32), method="fast")


def test_no_rows_no_pairs():
    assert near_pairs(np.empty((0, 8), np.float32)) == []
    assert near_pairs(np.ones((3, 8), np.float32), np.empty((0, 8), np.float32)) == []


def test_the_module_is_documented_in_the_user_guide():
    page = Path(__file__).resolve().parents[1] / "doc" / "user_guide" / "neighbours.rst"
    assert "skcatdog.neighbours" in page.read_text(encoding="utf-8")


@pytest.mark.parametrize("method", ["exact", pytest.param("approximate", marks=LIBRARIES[0].marks)])
def test_verbose_shows_each_stage_and_silent_shows_nothing(method, capsys):
    x, _ = _rows()
    quiet = near_pairs(x, max_distance=0.1, method=method, n_components=16)
    assert capsys.readouterr().err == ""
    assert near_pairs(x, max_distance=0.1, method=method, n_components=16, verbose=1) == quiet
    err = capsys.readouterr().err
    stages = ["projecting", "indexing", "searching"] if method == "approximate" else ["exact search"]
    assert all(f"near copies: {stage}" in err for stage in stages), err


@pytest.mark.skipif(importlib.util.find_spec("usearch") is None, reason="usearch is not installed (skcatdog[usearch])")
def test_the_recheck_needs_no_faiss(monkeypatch):
    import sys

    x, planted = _rows()
    with_faiss = near_pairs(x, max_distance=0.1, method="approximate", backend="usearch", n_components=16)
    monkeypatch.setitem(sys.modules, "faiss", None)  # import faiss now raises ImportError
    without = near_pairs(x, max_distance=0.1, method="approximate", backend="usearch", n_components=16)
    assert [(i, j) for i, j, _ in without] == [(i, j) for i, j, _ in with_faiss]
    _check_exact_distances(without, _brute(x))


@pytest.mark.skipif(importlib.util.find_spec("faiss") is None, reason="faiss is not installed (skcatdog[ann])")
def test_verbose_is_no_part_of_a_saved_index(tmp_path):
    x, _ = _rows()
    path = NeighbourIndex(method="approximate", n_components=16, verbose=1).fit(x).save(tmp_path / "i.npz")
    assert NeighbourIndex(method="approximate", n_components=16).load(path).n_indexed_ == len(x)
