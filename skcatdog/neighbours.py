"""Near copies among embeddings: every pair of rows within a cosine distance, at any size.

* :func:`near_pairs`: the pairs within one set of rows, or across two sets (leaks).
* :class:`NeighbourIndex`: the same search kept for later: fitted on a dataset's rows, saved,
  loaded, and queried with new rows without being built again.

Below :data:`CROSSOVER` rows the search is exact: unit rows are multiplied block by block, so
memory does not grow with the number of rows but time grows with its square. Above it an
approximate index proposes candidate pairs: rows are projected by PCA to ``n_components``
columns (fitted on a sample) and searched there with faiss's inverted-file index (the ``ann``
extra: ``pip install "skcatdog[ann]"``). Every candidate pair is then re-checked on the full
rows, so each pair returned is within ``max_distance`` and carries its exact distance; only
recall is approximate. A projection never lengthens a difference, so the projection loses no
pair: only the index's cells can, when two near rows fall in cells the search does not visit.
"""

from __future__ import annotations

import json
import numbers
import warnings
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from ._atomic import atomic_write
from ._neighbours import faiss_ivf, usearch_hnsw
from ._neighbours.base import BLOCK, Projection, check_embeddings, concat, exact_pairs, norms, refine, unit_block
from ._validation import Interval, StrOptions, validate_params

__all__ = ["BACKENDS", "CROSSOVER", "NeighbourIndex", "near_pairs"]

#: Rows above which ``method="auto"`` searches with the approximate index: the two take the same
#: time between 10,000 and 15,000 rows (the user guide's table), and below this the exact product
#: takes seconds and misses nothing.
CROSSOVER = 15_000

#: The libraries an approximate search can run on, and the extra that installs each.
BACKENDS = {"faiss": "ann", "usearch": "usearch"}
_MODULES = {"faiss": faiss_ivf, "usearch": usearch_hnsw}
_INDEXES = {"faiss": faiss_ivf.FaissIVF, "usearch": usearch_hnsw.UsearchHNSW}
_FORMAT = 1
#: Rows the projection is fitted on: enough for 128 stable components of 1,280 columns.
_PCA_SAMPLE = 20_000

_PARAMS = {
    "model": [str, None],
    "method": [StrOptions({"auto", "exact", "approximate"})],
    "backend": [StrOptions(set(BACKENDS))],
    "n_components": [Interval(numbers.Integral, 1, None, closed="left")],
    "n_probe": [Interval(numbers.Integral, 1, None, closed="left")],
    "n_candidates": [Interval(numbers.Integral, 1, None, closed="left")],
    "crossover": [Interval(numbers.Integral, 0, None, closed="left")],
    "dimension": [Interval(numbers.Integral, 1, None, closed="left"), None],
    "chunk": [Interval(numbers.Integral, 1, None, closed="left")],
    "random_state": [Interval(numbers.Integral, 0, None, closed="left")],
    "verbose": ["verbose"],
}
_DISTANCE = [Interval(numbers.Real, 0, 2, closed="both")]


class NeighbourIndex(BaseEstimator):
    """The rows of a dataset, searchable for near copies of new rows, and savable.

    :meth:`fit` indexes a set of embeddings; :meth:`query` returns the pairs between new rows
    and the indexed ones within a cosine distance; :meth:`save` and :meth:`load` keep it in
    one file (the rows, the projection and the library's index; no pickle), so new photos are
    checked against a dataset without building its index again. A saved index records its
    parameters, the embeddings' width and the ``model`` string; :meth:`load` refuses a file
    whose record differs from this instance's.

    Parameters
    ----------
    model : str or None, default=None
        What made the embeddings (a model's fingerprint, say): rows of another model are not
        comparable, so a file saved with another ``model`` is refused.
    method : {"auto", "exact", "approximate"}, default="auto"
        ``"exact"``: the blocked product of unit rows. ``"approximate"``: candidates from the
        index of ``backend``, re-checked exactly. ``"auto"``: exact up to ``crossover`` indexed
        rows, or when the backend's library is not installed (with a warning above ``crossover``).
    backend : {"faiss", "usearch"}, default="faiss"
        The library of the approximate index: faiss's inverted-file index (the ``ann`` extra),
        or USearch's HNSW graph.
    n_components : int, default=128
        Columns of the PCA projection the index searches in.
    n_probe : int, default=8
        How much of the index a query visits (faiss: the cells searched); more finds more
        pairs in more time.
    n_candidates : int, default=20
        The nearest indexed rows (in the projection) each row's candidates are taken from: a
        row with more near copies than this may have some of them missed.
    crossover : int, default=CROSSOVER
        Indexed rows above which ``method="auto"`` is approximate.
    dimension : int or None, default=None
        The embeddings' width, when it must be checked; a saved index of another width is refused.
    chunk : int, default=4096
        Rows per block of the exact product (a ``chunk x chunk`` block of similarities).
    random_state : int, default=0
        Seed of the sample the projection and the index's cells are learned from.
    verbose : int, default=0
        ``0`` is silent; ``1`` shows a progress bar for each stage that goes through the
        rows (projecting, indexing, searching).

    Attributes
    ----------
    method_ : str
        ``"exact"`` or ``"approximate"``: what :meth:`fit` chose.
    n_features_in_ : int
        The embeddings' width.
    n_indexed_ : int
        Rows indexed.

    Examples
    --------
    >>> import numpy as np
    >>> from skcatdog.neighbours import NeighbourIndex
    >>> train = np.eye(4, dtype=np.float32)
    >>> index = NeighbourIndex(model="demo").fit(train)
    >>> [(i, j, round(d, 5)) for i, j, d in index.query([[1.0, 0.01, 0, 0]], max_distance=0.1)]
    [(0, 0, 5e-05)]
    """

    _parameter_constraints = _PARAMS

    def __init__(
        self,
        *,
        model=None,
        method="auto",
        backend="faiss",
        n_components=128,
        n_probe=8,
        n_candidates=20,
        crossover=CROSSOVER,
        dimension=None,
        chunk=BLOCK,
        random_state=0,
        verbose=0,
    ):
        self.model = model
        self.method = method
        self.backend = backend
        self.n_components = n_components
        self.n_probe = n_probe
        self.n_candidates = n_candidates
        self.crossover = crossover
        self.dimension = dimension
        self.chunk = chunk
        self.random_state = random_state
        self.verbose = verbose

    def fit(self, embeddings, y=None):
        """Index ``embeddings`` (n x d floats; kept by reference when already float32).

        Returns
        -------
        self : NeighbourIndex
        """
        self._validate_params()
        self._fit(check_embeddings(embeddings, width=self.dimension))
        self._projected = None  # kept only for near_pairs' search of the indexed rows themselves
        return self

    def _fit(self, x):
        self.embeddings_, self.norms_ = x, norms(x)
        self.n_indexed_, self.n_features_in_ = x.shape
        self.method_ = self._choose(len(x))
        self.projection_ = self.index_ = self._projected = None
        if self.method_ == "approximate":
            self._projected = self._build()
        return self

    def _choose(self, n):
        if self.method != "auto":
            if self.method == "approximate" and not _MODULES[self.backend].available():
                raise ImportError(f"method='approximate' needs {self.backend}: {_install(self.backend)}")
            return self.method
        if n <= self.crossover:
            return "exact"
        if not _MODULES[self.backend].available():
            warnings.warn(
                f"{n:,} rows are searched exactly, in time that grows with their square: "
                f"{_install(self.backend)} for the approximate index",
                stacklevel=4,
            )
            return "exact"
        return "approximate"

    def _build(self):
        """Fit the projection on a sample, project every row once, learn the cells from a
        sample of the projected rows and add them all; returns the projected rows."""
        x, lengths, cls = self.embeddings_, self.norms_, _INDEXES[self.backend]
        n, rng = len(x), np.random.default_rng(self.random_state)
        picked = np.sort(rng.choice(n, min(n, _PCA_SAMPLE), replace=False))
        self.projection_ = Projection.fit(x[picked] / lengths[picked, None], self.n_components)
        projected = np.empty((n, self.projection_.n_components), np.float32)
        for start, stop in self._blocks(n, "projecting"):
            projected[start:stop] = self.projection_(unit_block(x, lengths, start, stop))
        index = cls(self.projection_.n_components, n, n_probe=self.n_probe)
        size = cls.sample_size(n)
        if size:
            index.train(projected[np.sort(rng.choice(n, size, replace=False))])
        for start, stop in self._blocks(n, "indexing"):
            index.add(projected[start:stop])
        self.index_ = index
        return projected

    def _blocks(self, n, stage):
        """``(start, stop)`` of each block of ``n`` rows, with a progress bar when verbose."""
        with _progress(n, stage, self.verbose) as bar:
            for start in range(0, n, self.chunk):
                stop = min(start + self.chunk, n)
                yield start, stop
                bar.update(stop - start)

    def query(self, embeddings, max_distance=0.1):
        """Pairs ``(i, j, distance)`` of new row ``i`` and indexed row ``j`` at most ``max_distance`` apart.

        Parameters
        ----------
        embeddings : array of shape (m, d)
            The new rows, as wide as the indexed ones.
        max_distance : float, default=0.1
            The largest cosine distance (``1 - cosine similarity``) of a pair.

        Returns
        -------
        pairs : list of (int, int, float)
            Sorted by ``i`` then ``j``; each distance is exact.
        """
        check_is_fitted(self, "method_")
        _check_distance(max_distance)
        q = check_embeddings(embeddings, width=self.n_features_in_)
        return _as_list(*self._pairs(q, norms(q), max_distance=max_distance, same=False))

    def _pairs(self, q, q_norms, *, max_distance, same):
        """``(query row, indexed row, distance)`` arrays; ``same``: ``q`` is the indexed set, pairs once."""
        x, lengths = self.embeddings_, self.norms_
        if self.method_ == "exact":
            return exact_pairs(
                q, q_norms, x, lengths, max_distance=max_distance, same=same, chunk=self.chunk,
                blocks=lambda n: self._blocks(n, "exact search"),
            )  # fmt: skip
        found = []
        for ids, rows, candidates in self._candidate_blocks(q, q_norms, max_distance=max_distance, same=same):
            qi, j, d = refine(rows, x, lengths, candidates, max_distance=max_distance)
            qi = ids[qi]
            if same:  # either direction of a pair may be the one found: keep each once, as (low, high)
                keep = qi != j
                qi, j, d = np.minimum(qi[keep], j[keep]), np.maximum(qi[keep], j[keep]), d[keep]
            found.append((qi, j, d))
        i, j, d = concat(found)
        if same:
            i, first = np.unique(i * len(x) + j, return_index=True)
            i, j, d = i // len(x), i % len(x), d[first]
        return i, j, d

    def _candidate_blocks(self, q, q_norms, *, max_distance, same):
        """``(ids, unit rows, candidates)`` for blocks of ``q``'s rows, with a progress bar."""
        radius = 2.0 * max_distance  # squared Euclidean distance of unit rows
        k = self.n_candidates + same  # within one set a row finds itself too
        projected, self._projected = getattr(self, "_projected", None), None
        with _progress(len(q), "searching", self.verbose) as bar:
            if same and projected is not None:  # the rows were projected when indexed: search them as they are
                for ids, candidates in self.index_.self_candidates(projected, radius, k, self.chunk):
                    yield ids, q[ids] / q_norms[ids, None], candidates
                    bar.update(len(ids))
                return
            for start in range(0, len(q), self.chunk):
                stop = min(start + self.chunk, len(q))
                rows = unit_block(q, q_norms, start, stop)
                yield np.arange(start, stop), rows, self.index_.candidates(self.projection_(rows), radius, k)
                bar.update(stop - start)

    def save(self, path):
        """Write the index to ``path`` (one ``.npz`` file, whole or not at all: the old file stays
        until the new one is complete). Returns the path."""
        check_is_fitted(self, "method_")
        arrays = {"settings": np.array(json.dumps(self._record())), "embeddings": self.embeddings_}
        if self.method_ == "approximate":
            arrays.update(
                mean=self.projection_.mean, components=self.projection_.components, index=self.index_.to_bytes()
            )
        path = Path(path)
        with atomic_write(path, "wb") as f:
            np.savez(f, **arrays)
        return path

    def _record(self):
        return {
            "format": _FORMAT,
            "params": self._record_params(),
            "dimension": self.n_features_in_,
            "method": self.method_,
        }

    def load(self, path):
        """Read an index :meth:`save` wrote, refusing one built with other settings.

        Raises
        ------
        ValueError
            When the file's ``model``, parameters or width differ from this instance's.

        Returns
        -------
        self : NeighbourIndex
        """
        self._validate_params()
        with np.load(Path(path), allow_pickle=False) as saved:
            record = json.loads(str(saved["settings"]))
            self._check_record(record, path)
            x = saved["embeddings"]
            self.embeddings_, self.norms_ = x, norms(x)
            self.n_indexed_, self.n_features_in_ = x.shape
            self.method_, self.projection_, self.index_ = record["method"], None, None
            if self.method_ == "approximate":
                self.projection_ = Projection(saved["mean"], saved["components"])
                self.index_ = _INDEXES[self.backend].from_bytes(saved["index"], n_probe=self.n_probe)
        return self

    def _check_record(self, record, path):
        if record.get("format") != _FORMAT:
            raise ValueError(f"{path} is not a saved NeighbourIndex of this version (format {record.get('format')})")
        saved, mine = record["params"], self._record_params()
        if saved.get("model") != mine["model"]:
            raise ValueError(
                f"{path} indexes embeddings of model {saved.get('model')!r}, not {mine['model']!r}: "
                "rows of another model are not comparable; fit a new index on this model's embeddings"
            )
        if self.dimension is not None and record["dimension"] != self.dimension:
            raise ValueError(f"{path} indexes rows of {record['dimension']} columns, not dimension={self.dimension}")
        differ = [f"{k}={saved.get(k)!r} (here {v!r})" for k, v in mine.items() if saved.get(k) != v]
        if differ:
            raise ValueError(
                f"{path} was built with other settings: {', '.join(differ)}; "
                "load it with the same settings, or fit and save a new index"
            )

    def _record_params(self):
        # What decides the rows an index holds and the pairs it finds; chunk, crossover and verbose change neither.
        skip = ("chunk", "crossover", "dimension", "verbose")
        return {k: v for k, v in self.get_params().items() if k not in skip}


def _progress(total, stage, verbose):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=f"near copies: {stage}", unit="row", disable=not verbose, leave=False)


def _install(backend):
    return f'install it with pip install "skcatdog[{BACKENDS[backend]}]"'


def _check_distance(max_distance):
    validate_params({"max_distance": _DISTANCE}, prefer_skip_nested_validation=True)(lambda max_distance: None)(
        max_distance=max_distance
    )


def _as_list(i, j, d):
    order = np.lexsort((j, i))
    return list(zip(i[order].tolist(), j[order].tolist(), d[order].tolist(), strict=True))


@validate_params(
    {
        "embeddings": ["array-like"],
        "other": ["array-like", None],
        "max_distance": _DISTANCE,
        **{k: v for k, v in _PARAMS.items() if k not in ("model", "dimension")},
    },
    prefer_skip_nested_validation=True,
)
def near_pairs(
    embeddings,
    other=None,
    *,
    max_distance=0.1,
    method="auto",
    backend="faiss",
    n_components=128,
    n_probe=8,
    n_candidates=20,
    crossover=CROSSOVER,
    chunk=BLOCK,
    random_state=0,
    verbose=0,
):
    """Pairs ``(i, j, cosine distance)`` of rows at most ``max_distance`` apart.

    Within ``embeddings`` alone each pair comes once, with ``i < j``; with ``other``, ``i`` is a
    row of ``embeddings`` and ``j`` a row of ``other`` (a training row and its copy in a test
    set, say). The search is exact up to ``crossover`` rows (of the larger set) and approximate
    above it (see :class:`NeighbourIndex` for the parameters); every distance returned is exact.

    Parameters
    ----------
    embeddings : array of shape (n, d)
        Float rows; float32 is used as it is, other floats are converted once.
    other : array of shape (m, d), default=None
        A second set of rows, to pair with ``embeddings`` instead of ``embeddings`` itself.
    max_distance : float, default=0.1
        The largest cosine distance (``1 - cosine similarity``) of a pair.
    method, backend, n_components, n_probe, n_candidates, crossover, chunk, random_state, verbose
        As for :class:`NeighbourIndex`.

    Returns
    -------
    pairs : list of (int, int, float)
        Sorted by ``i`` then ``j``.

    Raises
    ------
    ValueError
        When a set is not 2-D, has no columns, holds no floats or holds NaN or infinite values
        (the first such row is named), or ``other`` has another width.

    Examples
    --------
    >>> import numpy as np
    >>> from skcatdog.neighbours import near_pairs
    >>> x = np.array([[1, 0], [1, 0.01], [0, 1]], dtype=np.float32)
    >>> [(i, j, round(d, 5)) for i, j, d in near_pairs(x, max_distance=0.1)]
    [(0, 1, 5e-05)]
    """
    a = check_embeddings(embeddings)
    b = None if other is None else check_embeddings(other, "other", width=a.shape[1])
    params = dict(
        backend=backend, n_components=n_components, n_probe=n_probe, n_candidates=n_candidates, crossover=crossover,
        chunk=chunk,
        random_state=random_state,
        verbose=verbose,
    )  # fmt: skip
    largest = max(len(a), 0 if b is None else len(b))
    if method == "auto":
        method = NeighbourIndex(method="auto", **params)._choose(largest)
    index = NeighbourIndex(method=method, **params)._fit(a)
    if b is None:
        return _as_list(*index._pairs(a, index.norms_, max_distance=max_distance, same=True))
    j, i, d = index._pairs(b, norms(b), max_distance=max_distance, same=False)
    return _as_list(i, j, d)
