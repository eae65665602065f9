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
import html
import json

__all__ = ["DECISIONS", "default_decisions", "read_decisions", "render", "write_decisions"]

#: A decisions file's columns; ``action`` is one of keep, drop, relabel.
DECISIONS = ("item", "action", "label")

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


def _card(row, thumbnail, decision):
    name = html.escape(str(row.item))
    short = html.escape(str(row.item).replace("\\", "/").rsplit("/", 1)[-1])
    img = f'<img src="{thumbnail}" alt="{name}">' if thumbnail else '<div class="missing">no preview</div>'
    labels = ""
    if row.given_label is not None and row.given_label == row.given_label:  # not NaN
        labels = f"<div>label <b>{html.escape(str(row.given_label))}</b>"
        if row.suggested_label is not None and row.suggested_label == row.suggested_label:
            labels += f" &rarr; <b>{html.escape(str(row.suggested_label))}</b>"
        labels += "</div>"
    action, label = decision
    options = "".join(
        f'<option value="{a}"{" selected" if a == action else ""}>{a}</option>' for a in ("keep", "drop", "relabel")
    )
    return (
        f'<figure class="card" data-item="{name}">{img}<figcaption>'
        f'<div class="name" title="{name}">{short}</div>{labels}'
        f'<div class="detail">{html.escape(str(row.detail))} (score {row.score:.3g})</div>'
        f'<select class="action">{options}</select> '
        f'<input class="label" value="{html.escape(label)}" placeholder="new label" size="8">'
        "</figcaption></figure>"
    )


def render(issues, title, thumbnail):
    """The page's HTML; ``thumbnail(item)`` gives a data URI or ``""``."""
    decisions = {item: (action, label) for item, action, label in default_decisions(issues)}
    tabs, panels = [], []
    for k, (issue, rows) in enumerate(issues.groupby("issue", sort=False)):
        tabs.append(f'<button class="tab" data-panel="p{k}">{html.escape(issue)} ({len(rows)})</button>')
        blocks = []
        if rows["group"].notna().any():
            for group, members in rows.groupby("group", sort=False):
                cards = "".join(_card(r, thumbnail(r.item), decisions[r.item]) for r in members.itertuples())
                blocks.append(f'<div class="set"><h3>{html.escape(str(group))}</h3>{cards}</div>')
        else:
            blocks.append("".join(_card(r, thumbnail(r.item), decisions[r.item]) for r in rows.itertuples()))
        panels.append(f'<section class="panel" id="p{k}">{"".join(blocks)}</section>')
    if not tabs:
        panels.append("<p>No issue found.</p>")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font: 14px/1.35 system-ui, sans-serif; margin: 1.5em; color: #222; }}
.tab {{ margin: 0 4px 8px 0; padding: 4px 10px; }} .tab.on {{ font-weight: 700; }}
.panel {{ display: none; }} .panel.on {{ display: flex; flex-wrap: wrap; gap: 12px; }}
.set {{ display: flex; flex-wrap: wrap; gap: 8px; padding: 6px; border: 1px dashed #999; }}
.set h3 {{ width: 100%; margin: 0; font-size: 12px; }}
.card {{ width: 176px; margin: 0; padding: 6px; border: 1px solid #ccc; border-radius: 6px; }}
.card img {{ display: block; max-width: 160px; max-height: 160px; margin: auto; }}
.missing {{ height: 80px; background: #eee; text-align: center; }}
.name {{ font-weight: 600; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }}
.detail {{ font-size: 12px; color: #555; }}
</style></head>
<body><h1>{html.escape(title)}</h1>
<p>{len(issues)} issues on {issues["item"].nunique()} photos. Choose keep, drop or relabel, then
<button id="export">Export decisions</button> (a CSV for <code>skcatdog train --decisions</code>).</p>
<nav>{"".join(tabs)}</nav>
{"".join(panels)}
<script>
const tabs = document.querySelectorAll(".tab");
function show(id) {{
  document.querySelectorAll(".panel").forEach(p => p.classList.toggle("on", p.id === id));
  tabs.forEach(t => t.classList.toggle("on", t.dataset.panel === id));
}}
tabs.forEach(t => t.addEventListener("click", () => show(t.dataset.panel)));
if (tabs.length) show(tabs[0].dataset.panel);
function quote(s) {{ return /[",\\n]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s; }}
document.getElementById("export").addEventListener("click", () => {{
  const seen = new Map();
  document.querySelectorAll(".card").forEach(c => {{
    seen.set(c.dataset.item, [c.querySelector(".action").value, c.querySelector(".label").value]);
  }});
  const lines = [{json.dumps(",".join(DECISIONS))}];
  seen.forEach((v, item) => lines.push([item, v[0], v[0] === "relabel" ? v[1] : ""].map(quote).join(",")));
  const a = document.createElement("a");
  a.href = URL.createObjectURL(new Blob([lines.join("\\n") + "\\n"], {{type: "text/csv"}}));
  a.download = "decisions.csv";
  a.click();
}});
</script></body></html>
"""
