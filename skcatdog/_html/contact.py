"""The contact sheet of ``skcatdog outliers --report``: flagged photos with their top ImageNet classes."""

from __future__ import annotations

from .kit import card, document, esc, thumbnail, top_list


def contact_sheet(report, title, note=""):
    """HTML text: one card per row of ``report`` (an ImageNetOutlierFilter report).

    Thumbnails are embedded as data URIs, so the page is a single file that
    can be mailed or opened anywhere; it runs no script.
    """
    cards = []
    for row in report.itertuples(index=False):
        label = esc(row.label)
        best = f"best {label} class <b>{esc(row.best_class)}</b> at rank <b>{row.rank}</b>"
        line = f"<div>label <b>{label}</b>; {best}</div>"
        cards.append(card(thumbnail(row.item), row.item, [line, top_list(row.top5.split(", "))]))
    body = f'<h1>{esc(title)}</h1><p>{esc(note)}</p>\n<div class="sheet">\n{chr(10).join(cards)}\n</div>'
    return document(title, body)
