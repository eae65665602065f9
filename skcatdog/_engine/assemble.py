"""The output of a call, assembled as rows are found or computed.

Three assemblers share one interface, chosen once per call: rows per view,
the mean of the views, or nothing (rows only computed and stored).
"""

from __future__ import annotations

import numpy as np

from .._store import memory_tag, row_key, row_prefix

__all__ = ["MeanOfViews", "NoOutput", "PerView", "assembler_for"]


class NoOutput:
    """``outputs=()``: rows are computed and stored; nothing is returned."""

    remembers_view_rows = True  # rows read are kept in process memory one by one
    needs_rows = False  # whether rows found are read (else the store is only asked which it holds)
    lookup_digests = None  # the store's own digest memo
    missed_memory = False  # whether a row was looked for past process memory

    def __init__(self, request, store, n_items):
        self.n_views = len(request.views)

    def fill_from_means(self, chunk, digests):
        return False

    def fill_warm(self, chunk, digests, rows, position):
        pass

    def place_found(self, i, digest, got):
        pass

    def place_computed(self, rows_of_item, v, row):
        pass

    def finish(self):
        pass

    def outputs(self):
        return None


class PerView(NoOutput):
    """One output per view: ``out[v, i]`` is item ``i``'s row of view ``v``."""

    needs_rows = True

    def __init__(self, request, store, n_items):
        super().__init__(request, store, n_items)
        self.columns = request.columns
        self.out = np.empty((self.n_views, n_items, request.n_kept), dtype=np.float32)

    def fill_warm(self, chunk, digests, rows, position):
        # Every row found (the warm path): C-level copies, one pass per view.
        out = self.out
        for v in range(self.n_views):
            view_rows = [rows[position[digests[i]] + v] for i in chunk]
            np.concatenate(view_rows, out=out[v, chunk.start : chunk.stop].reshape(-1))

    def place_found(self, i, digest, got):
        for v, row in enumerate(got):
            if row is not None:
                self.out[v, i] = row

    def place_computed(self, rows_of_item, v, row):
        self.out[v, rows_of_item] = row[self.columns]

    def outputs(self):
        return self.out


class MeanOfViews(PerView):
    """One output, the mean over the views (summed in view order, in float32).

    Means are kept in process memory for repeated calls and, where the store
    keeps derived rows, stored too: a warm call in a new process then reads
    one row per photo instead of one per view, in the same query as the
    file's digest.
    """

    remembers_view_rows = False  # the mean itself is kept, not its parts

    def __init__(self, request, store, n_items):
        NoOutput.__init__(self, request, store, n_items)
        self.columns = request.columns
        self.store = store
        self.cols = request.cols
        self.fingerprint = request.fingerprint
        self.out = np.empty((1, n_items, request.n_kept), dtype=np.float32)
        mean_name = f"mean({'+'.join(request.views)})[{self.cols[0]}:{self.cols[1]}]"  # of the kept columns
        # Memory key of a mean row, with the digest: everything else that decides it, as one
        # string (its hash is computed once; a nested tuple's is not).
        self.tag = memory_tag(store.name, request.fingerprint, mean_name)
        self.stored_name = mean_name if store.capabilities.derived_rows else None
        self.parts = {}  # item -> (digest, row per view) for items not all found at once
        self.stored = set()  # digests whose mean row the store has
        self.prefetched = {}  # digest -> stored mean, read with the digest memo
        if self.stored_name is not None:
            self.lookup_digests = self._digests_and_means

    def _key(self, digest):
        return row_key(self.fingerprint, self.stored_name, digest)

    def _digests_and_means(self, files):
        """Each file's digest and, where the store reads it in the same pass, its stored mean."""
        prefix = row_prefix(self.fingerprint, self.stored_name)
        digests, rows = self.store.get_many_by_file(files, prefix, self.cols[1] - self.cols[0])
        for digest, row in zip(digests, rows, strict=True):
            if row is not None:
                self.prefetched[digest] = row
        return digests

    def fill_from_means(self, chunk, digests):
        """Fill the chunk's output from known means; returns whether every row was found."""
        if not self.store.capabilities.stores_rows or len(digests) != len(chunk):
            return False
        tag = self.tag
        wanted = [(tag, digests[i]) for i in chunk]
        means = self.store.memory_get_many(wanted)
        absent = [k for k, m in enumerate(means) if m is None]
        if absent:
            self.missed_memory = True
        if absent and self.stored_name is not None:
            still = []
            for k in absent:
                row = self.prefetched.pop(wanted[k][1], None)
                if row is None:
                    still.append(k)
                else:
                    means[k] = row
            if still:
                a, b = self.cols
                keys = [self._key(wanted[k][1]) for k in still]
                # Past memory without keeping the rows read: the mean is kept by its tag below.
                for k, row in zip(still, self.store.lookup(keys, b - a, remember=False)[0], strict=True):
                    means[k] = row
            # Read-only rows backed by the bytes SQLite gave: kept in memory as they are.
            new = [(wanted[k], means[k]) for k in absent if means[k] is not None]
            self.stored.update(key[1] for key, _ in new)
            self.store.memory_put_many(new)
        if any(m is None for m in means):
            return False
        # Rows joined end to end into the chunk's (contiguous) rows: np.stack would make a view of each.
        np.concatenate(means, out=self.out[0, chunk.start : chunk.stop].reshape(-1))
        return True

    def fill_warm(self, chunk, digests, rows, position):
        # Summed in view order, row by row: one pass over the rows read, no temporaries.
        dest = self.out[0, chunk.start : chunk.stop]
        add, n_views = np.add, self.n_views
        for k, i in enumerate(chunk):
            first = position[digests[i]]
            add(rows[first], rows[first + 1], out=dest[k])
            for v in range(2, n_views):
                dest[k] += rows[first + v]
        dest /= np.float32(n_views)
        if self.store.capabilities.stores_rows:
            # One copy for the chunk: the memory holds views of it, one per row.
            kept, tag = dest.copy(), self.tag
            self.store.memory_put_many([((tag, digests[i]), kept[k]) for k, i in enumerate(chunk)])
            self._store_means((digests[i], kept[k]) for k, i in enumerate(chunk))

    def place_found(self, i, digest, got):
        self.parts[i] = (digest, got)

    def place_computed(self, rows_of_item, v, row):
        for i in rows_of_item:
            self.parts[i][1][v] = row[self.columns]

    def finish(self):
        """The mean of the views for items whose rows were not all found at once."""
        scale = np.float32(self.n_views)
        means = []
        for i, (digest, got) in self.parts.items():
            total = got[0].copy()
            for row in got[1:]:
                total += row
            total /= scale
            self.out[0, i] = total
            means.append((digest, total))
        self.parts.clear()
        self.store.memory_put_many([((self.tag, d), total) for d, total in means])
        self._store_means(means)

    def _store_means(self, pairs):
        if self.stored_name is None:
            return
        new = {d: row for d, row in pairs if d not in self.stored}
        if new:
            self.store.put_many([(self._key(d), row) for d, row in new.items()])
            self.stored.update(new)


def assembler_for(request, store, n_items):
    """The assembler of a call's output."""
    if request.columns is None:
        return NoOutput(request, store, n_items)
    return (MeanOfViews if request.mean else PerView)(request, store, n_items)
