"""Photos of no label's kind: ImageNet sees none of the label's classes among its best ones."""

from __future__ import annotations

import numpy as np

from .checks import IssueCheck, issue_frame
from .labels import has_two_labels, label_triage

__all__ = ["OffTopic"]


class OffTopic(IssueCheck):
    """Photos with no class of their label's kind among their ``top_k`` ImageNet classes.

    A photo the label check reports as a wrong label is not reported here:
    relabelling, not dropping, is what it needs.
    """

    name = "off_topic"
    needs = frozenset({"embeddings", "logits", "labels"})
    description = "none of the photo's top_k ImageNet classes is of its label's kind"

    def find(self, context):
        if not has_two_labels(context):
            return issue_frame([], [])
        triage = context.shared("labels", lambda: label_triage(context))
        top_k, y = context.settings["top_k"], context.labels
        wrong = {i for i, _, _, _ in triage.wrong}
        own = triage.ranks[np.arange(len(y)), triage.given]
        rows = [int(i) for i in np.flatnonzero(own > top_k) if int(i) not in wrong]
        return issue_frame(
            rows,
            np.minimum(1.0, own[rows] / 1000),
            given_label=[y[i].item() if isinstance(y[i], np.generic) else y[i] for i in rows],
            detail=[f"no {y[i]} class in its top {top_k} ImageNet classes (best at rank {int(own[i])})" for i in rows],
        )
