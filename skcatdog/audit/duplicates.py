"""Copies and leaks: exact (the same bytes) and near (embeddings a small cosine distance apart) copies, as sets.

Near pairs come from :func:`skcatdog.neighbours.near_pairs`: exact block
products for small sets, an approximate index past its crossover, every pair
confirmed on the full rows.
"""

from __future__ import annotations

import numpy as np

from ..neighbours import near_pairs
from .checks import IssueCheck, issue_frame
from .pixels import print_similarity

__all__ = [
    "MIN_PRINT_SIMILARITY",
    "NEAR_DISTANCE",
    "UNCONFIRMED_NEAR_DISTANCE",
    "ExactDuplicates",
    "Leaks",
    "NearDuplicates",
    "exact_sets",
    "near_sets",
    "normalized",
]


def normalized(embeddings):
    """Rows scaled to unit length (cosine distance is then half the squared Euclidean one)."""
    x = np.asarray(embeddings, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


def exact_sets(digests):
    """Sets of two or more indices holding the same content digest, in first-seen order."""
    by_digest = {}
    for i, d in enumerate(digests):
        if d is not None:
            by_digest.setdefault(d, []).append(i)
    return [rows for rows in by_digest.values() if len(rows) > 1]


def near_sets(n, pairs):
    """Connected components (two or more rows) of the graph of ``pairs``, each sorted."""
    parent = list(range(n))

    def root(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for i, j, _ in pairs:
        ri, rj = root(i), root(j)
        if ri != rj:
            parent[max(ri, rj)] = min(ri, rj)
    groups = {}
    for i in range(n):
        groups.setdefault(root(i), []).append(i)
    return [rows for rows in groups.values() if len(rows) > 1]


#: ``near_duplicate_distance="auto"`` where grey prints confirm the candidates (photos given):
#: wide enough for half-size copies, which embeddings put furthest apart.
NEAR_DISTANCE = 0.2
#: ``near_duplicate_distance="auto"`` where nothing confirms them (embeddings given): past it,
#: different photos of look-alike subjects outnumber the copies (see the audit guide).
UNCONFIRMED_NEAR_DISTANCE = 0.08

#: Candidate near copies are confirmed when their grey prints correlate at least this well:
#: embeddings alone put half-size copies further apart than different photos of similar cats.
MIN_PRINT_SIMILARITY = 0.9


def _confirmed(pairs, photos_a, photos_b):
    """The pairs whose grey prints correlate; all of them where the sets hold no pixels (given embeddings)."""
    if photos_a.pixels is None or photos_b.pixels is None:
        return pairs
    if photos_b is photos_a:
        prints_a = prints_b = photos_a.grey_prints(dict.fromkeys(k for i, j, _ in pairs for k in (i, j)))
    else:
        prints_a = photos_a.grey_prints(dict.fromkeys(i for i, _, _ in pairs))
        prints_b = photos_b.grey_prints(dict.fromkeys(j for _, j, _ in pairs))
    return [(i, j, d) for i, j, d in pairs if print_similarity(prints_a[i], prints_b[j]) >= MIN_PRINT_SIMILARITY]


class ExactDuplicates(IssueCheck):
    """Photos holding the same bytes: one set per content, its first photo marked ``keep``."""

    name = "exact_duplicate"
    needs = frozenset()
    description = "the same bytes (the content digest the cache already holds)"

    def find(self, context):
        names = context.names
        index, group, detail = [], [], []
        for g, rows in enumerate(exact_sets(context.digests)):
            keep = rows[0]
            for i in rows:
                index.append(i)
                group.append(f"exact-{g}")
                detail.append("keep" if i == keep else f"the same bytes as {names[keep]}")
        return issue_frame(index, np.ones(len(index)), group=group, detail=detail)


class NearDuplicates(IssueCheck):
    """Re-encoded, resized, cropped or brightened copies, as sets with the largest photo marked ``keep``."""

    name = "near_duplicate"
    needs = frozenset({"embeddings"})
    optional = frozenset({"pixel_measures", "grey_prints"})
    description = "embeddings a small cosine distance apart whose grey prints correlate (when photos were read)"

    def find(self, context):
        photos, names = context.photos, context.names
        in_exact = {i: g for g, rows in enumerate(exact_sets(context.digests)) for i in rows}
        pairs = [
            (i, j, d)
            for i, j, d in near_pairs(
                photos.embeddings,
                max_distance=context.settings["near_duplicate_distance"],
                verbose=context.settings.get("verbose", 0),
            )
            if not (i in in_exact and in_exact.get(j) == in_exact[i])
        ]
        pairs = _confirmed(pairs, photos, photos)
        closest = {}
        for i, j, d in pairs:
            closest[i] = min(closest.get(i, 1.0), d)
            closest[j] = min(closest.get(j, 1.0), d)
        # Without pixel measures (given embeddings) every photo counts as the same size: the first is kept.
        m = photos.measures
        sizes = np.zeros(len(names)) if m is None else (m["width"] * m["height"]).fillna(0).to_numpy()
        index, score, group, detail = [], [], [], []
        for g, rows in enumerate(near_sets(len(names), pairs)):
            keep = max(rows, key=lambda i: (sizes[i], -i))
            for i in rows:
                index.append(i)
                score.append(1.0 - closest[i])
                group.append(f"near-{g}")
                detail.append("keep" if i == keep else f"a near copy of {names[keep]}")
        return issue_frame(index, score, group=group, detail=detail)


class Leaks(IssueCheck):
    """Training photos with an exact or near copy in the test set."""

    name = "leak"
    needs = frozenset({"embeddings", "test_set"})
    optional = frozenset({"grey_prints"})
    description = "a training photo with an exact or near copy in the test set"

    def find(self, context):
        photos, test = context.photos, context.test
        found = {}
        test_of = {}
        for k, d in enumerate(test.digests):
            test_of.setdefault(d, k)
        for i, d in enumerate(photos.digests):
            if d in test_of:
                found[i] = (1.0, f"the same bytes as {test.names[test_of[d]]} in the test set")
        max_distance = context.settings["near_duplicate_distance"]
        pairs = near_pairs(
            photos.embeddings, test.embeddings, max_distance=max_distance, verbose=context.settings.get("verbose", 0)
        )
        for i, k, d in _confirmed(pairs, photos, test):
            if i not in found or found[i][0] < 1.0 - d:
                found[i] = (1.0 - d, f"a near copy of {test.names[k]} in the test set")
        rows = sorted(found)
        return issue_frame(
            rows,
            [found[i][0] for i in rows],
            group=[f"leak-{i}" for i in rows],
            detail=[found[i][1] for i in rows],
        )
