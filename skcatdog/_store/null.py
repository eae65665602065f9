"""The store of ``cache=None``: keeps nothing, so every row is computed."""

from __future__ import annotations

from .spec import Capabilities, StoreBase

__all__ = ["NullStore"]


class NullStore(StoreBase):
    """A :class:`~skcatdog._store.spec.Store` that finds nothing and keeps nothing."""

    capabilities = Capabilities(stores_rows=False)

    def __repr__(self):
        return "NullStore()"

    def get_many(self, keys, width, cols=None):
        return [None] * len(keys)

    def put_many(self, pairs):
        pass
