"""Phase 2 of a call: look each chunk's rows up, and check the misses' headers.

Rows found go straight into the output (rows of distinct items, so threads
never overlap); misses get a header check now, so that a non-image fails
before any forward pass is spent.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from .. import _images
from .._images import BadImage
from .stats import stats

__all__ = ["Misses", "Prober", "chunks"]

# Items per probe task: large enough that one SQLite query serves many rows,
# small enough that a few threads share the work.
CHUNK = 512


def chunks(n, size=CHUNK):
    """``range`` objects covering ``0..n`` in steps of ``size``."""
    return [range(i, min(i + size, n)) for i in range(0, n, size)]


@dataclass
class Misses:
    """The rows a call must compute, by content: each digest once, first-seen order."""

    rows: dict = field(default_factory=dict)  # digest -> rows of the items that hold it
    sources: dict = field(default_factory=dict)  # digest -> source to decode
    views: dict = field(default_factory=dict)  # digest -> views it still needs

    def add(self, i, source, views):
        digest = source.digest
        self.rows.setdefault(digest, []).append(i)
        self.sources.setdefault(digest, source)
        self.views.setdefault(digest, views)

    def __len__(self):
        return len(self.rows)

    def n_views(self):
        return sum(len(v) for v in self.views.values())


class Prober:
    """Looks chunks of one call up in its store.

    Parameters
    ----------
    request : Request
    store : CachedStore
    identifier : Identifier
    assembler : PerView, MeanOfViews or NoOutput
    """

    def __init__(self, request, store, identifier, assembler):
        self.request, self.store, self.identifier, self.assembler = request, store, identifier, assembler
        self.read_store = False  # whether a row was looked for past process memory

    @property
    def did_io(self):
        """Whether a probe read a file or may have reached a remote store (threads help)."""
        return self.identifier.did_io or (self.read_store and not self.store.capabilities.local)

    @property
    def from_memory(self):
        """Whether every row so far came from process memory."""
        return not (self.read_store or self.assembler.missed_memory)

    def probe(self, chunk):
        """``(bad, misses)`` for ``chunk``: ``(i, reason)`` pairs and ``(i, source, views
        needed)`` for rows not found; rows found are in the output."""
        t = time.perf_counter()
        try:
            return self._probe(chunk)
        finally:
            stats.add(seconds_probe=time.perf_counter() - t)

    def _probe(self, chunk):
        digests, sources, reasons = self.identifier.identify(chunk)
        bad = list(reasons.items())
        assembler = self.assembler
        if not bad and assembler.fill_from_means(chunk, digests):
            return bad, []
        request = self.request
        views, n_views = request.views, len(request.views)
        unique = list(dict.fromkeys(digests.values()))
        keys = [request.row_name(view, d) for d in unique for view in views]
        if assembler.needs_rows:
            rows, from_memory = self.store.lookup(
                keys, request.width, request.cols, remember=assembler.remembers_view_rows
            )
        else:  # rows are only computed where absent: which the store holds is enough
            rows, from_memory = [True if hit else None for hit in self.store.contains_many(keys, request.width)], False
        if not from_memory:
            self.read_store = True
        position = {d: k * n_views for k, d in enumerate(unique)}
        needs = {}  # digest -> views to compute, or the reason it is bad
        for d, k in position.items():
            got = rows[k : k + n_views]
            if any(row is None for row in got):
                needs[d] = [view for view, row in zip(views, got, strict=True) if row is None]
        miss_sources = self._check_misses(digests, sources, needs)
        if not needs and len(digests) == len(chunk):
            assembler.fill_warm(chunk, digests, rows, position)
            return bad, []
        misses = []
        for i, d in digests.items():
            k = position[d]
            assembler.place_found(i, d, rows[k : k + n_views])
            need = needs.get(d)
            if isinstance(need, str):
                bad.append((i, need))
            elif need:
                misses.append((i, miss_sources[d], need))
        return bad, misses

    def _check_misses(self, digests, sources, needs):
        """``{digest: source}`` of the misses, each header-checked; a bad one's reason
        replaces its entry in ``needs``."""
        miss_sources = {}
        identifier = self.identifier
        for i, d in digests.items():
            if d not in needs or d in miss_sources or isinstance(needs[d], str):
                continue
            src = sources.get(i)
            try:
                if src is None:
                    src = identifier.source(i)
                if src.data is None and src.path is not None:
                    identifier.did_io = True
                    stats.add(files_read=1)
                    src.data = _images.source_bytes(src)
                _images.check_header(src)
                miss_sources[d] = src
            except BadImage as exc:
                needs[d] = str(exc)
            if src is not None:
                src.data = None  # misses re-read (and re-verify) their bytes at decode time
        return miss_sources
