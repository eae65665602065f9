"""Near-neighbour search behind :mod:`skcatdog.neighbours`: the exact blocked product, the
candidate indexes (one module per library, each a :class:`~.base.CandidateIndex`) and the
exact re-check every candidate pair goes through."""
