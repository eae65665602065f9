"""The store of ``cache=None``: keeps nothing, so every row is computed."""

from __future__ import annotations

from .spec import Capabilities

__all__ = ["NullStore"]


class NullStore:
    """A :class:`~skcatdog._store.spec.Store` that finds nothing and keeps nothing."""

    name = None
    capabilities = Capabilities(keeps_rows=False)
    digests = None

    def __repr__(self):
        return "NullStore()"

    def get_many(self, keys, width, cols=None):
        return [None] * len(keys)

    def put_many(self, pairs):
        pass

    def flush(self):
        pass
