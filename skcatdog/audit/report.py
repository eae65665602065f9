"""The audit as a page to review by eye, and the decisions file it exports.

The page is one self-contained HTML file (thumbnails as data URIs, a few
lines of script): a tab per issue, copies side by side, wrong labels with
the suggested label, and a keep / drop / relabel choice per photo that the
"Export decisions" button saves as the CSV ``skcatdog train --decisions``
reads. Every file name is escaped: a file named ``<script>.jpg`` is shown,
not run.
"""

from __future__ import annotations

import csv

from .._html import DECISIONS, EXPORT_SCRIPT, card, decision_controls, document, esc, export_button

__all__ = ["DECISIONS", "default_decisions", "read_decisions", "render", "write_decisions"]

_DEFAULT_ACTION = {"exact_duplicate": "drop", "near_duplicate": "drop", "leak": "drop", "off_topic": "drop"}


def default_decisions(issues):
    """``[(item, action, label)]``: what the page proposes before anyone looks.

    Copies but the one to keep, leaks and off-topic photos are dropped; wrong
    labels are relabelled to the suggested label; poor photos are kept.
    """
    decided = {}
    for row in issues.itertuples(index=False):
        if row.issue == "label_error":
            action, label = "relabel", row.suggested_label
        elif row.issue in ("exact_duplicate", "near_duplicate") and row.detail == "keep":
            action, label = "keep", ""
        else:
            action, label = _DEFAULT_ACTION.get(row.issue, "keep"), ""
        previous = decided.get(row.item)
        # drop beats relabel beats keep, whatever the order the issues came in
        rank = {"keep": 0, "relabel": 1, "drop": 2}
        if previous is None or rank[action] > rank[previous[0]]:
            decided[row.item] = (action, "" if label is None else str(label))
    return [(item, action, label) for item, (action, label) in decided.items()]


def write_decisions(f, decisions):
    w = csv.writer(f)
    w.writerow(DECISIONS)
    w.writerows(decisions)


def read_decisions(path):
    """``{item: (action, label)}`` from a decisions CSV; a clear error for a malformed one."""
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    if not rows or tuple(rows[0][:3]) != DECISIONS:
        raise ValueError(f"{path} is not a decisions file: its header must be {','.join(DECISIONS)}")
    out = {}
    for n, row in enumerate(rows[1:], start=2):
        if len(row) < 2 or row[1] not in ("keep", "drop", "relabel"):
            raise ValueError(f"{path}, line {n}: the action must be keep, drop or relabel, got {row[1:2]}")
        label = row[2] if len(row) > 2 else ""
        if row[1] == "relabel" and not label:
            raise ValueError(f"{path}, line {n}: relabel {row[0]!r} to what? The label column is empty")
        out[row[0]] = (row[1], label)
    return out


def _card(row, src, decision):
    lines = []
    if row.given_label is not None and row.given_label == row.given_label:  # not NaN
        labels = f"label <b>{esc(row.given_label)}</b>"
        if row.suggested_label is not None and row.suggested_label == row.suggested_label:
            labels += f" &rarr; <b>{esc(row.suggested_label)}</b>"
        lines.append(f"<div>{labels}</div>")
    lines.append(f'<div class="detail">{esc(row.detail)} (score {row.score:.3g})</div>')
    return card(src, row.item, lines, decision_controls(*decision))


#: The tabs: one panel shown at a time, the first to start with.
TABS_SCRIPT = """
const tabs = root.querySelectorAll(".tab");
function show(id) {
  root.querySelectorAll(".panel").forEach(p => p.classList.toggle("on", p.id === id));
  tabs.forEach(t => t.classList.toggle("on", t.dataset.panel === id));
}
tabs.forEach(t => t.addEventListener("click", () => show(t.dataset.panel)));
if (tabs.length) show(tabs[0].dataset.panel);
"""


def render(issues, title, thumbnail):
    """The page's HTML; ``thumbnail(item)`` gives a data URI or ``""``."""
    decisions = {item: (action, label) for item, action, label in default_decisions(issues)}
    tabs, panels = [], []
    for k, (issue, rows) in enumerate(issues.groupby("issue", sort=False)):
        tabs.append(f'<button class="tab" data-panel="p{k}">{esc(issue)} ({len(rows)})</button>')
        blocks = []
        if rows["group"].notna().any():
            for group, members in rows.groupby("group", sort=False):
                cards = "".join(_card(r, thumbnail(r.item), decisions[r.item]) for r in members.itertuples())
                blocks.append(f'<div class="set"><h3>{esc(group)}</h3>{cards}</div>')
        else:
            blocks.append("".join(_card(r, thumbnail(r.item), decisions[r.item]) for r in rows.itertuples()))
        panels.append(f'<section class="panel" id="p{k}">{"".join(blocks)}</section>')
    if not tabs:
        panels.append("<p>No issue found.</p>")
    skipped = issues.attrs.get("skipped") or {}
    notes = "".join(f"<li><b>{esc(name)}</b>: {esc(why)}</li>" for name, why in skipped.items())
    body = (
        f"<h1>{esc(title)}</h1>\n<p>{len(issues)} issues on {issues['item'].nunique()} photos. "
        f"Choose keep, drop or relabel, then {export_button()}.</p>\n"
        + (
            f'<details class="skipped"><summary>Not checked ({len(skipped)})</summary><ul>{notes}</ul></details>\n'
            if notes
            else ""
        )
        + f"<nav>{''.join(tabs)}</nav>\n{''.join(panels)}"
    )
    return document(title, body, TABS_SCRIPT + EXPORT_SCRIPT)
