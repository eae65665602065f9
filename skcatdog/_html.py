"""A self-contained HTML contact sheet of flagged photos, for review by eye."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

THUMBNAIL = 192


def thumbnail(item):
    """A JPEG thumbnail of an image file as a data URI, or ``""`` if it cannot be read."""
    from PIL import Image, ImageOps

    try:
        with Image.open(item) as img:
            img = ImageOps.exif_transpose(img).convert("RGB")
            img.thumbnail((THUMBNAIL, THUMBNAIL))
            buf = io.BytesIO()
            img.save(buf, "JPEG", quality=80)
    except OSError:
        return ""
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def contact_sheet(report, title, note=""):
    """HTML text: one card per row of ``report`` (an ImageNetOutlierFilter report).

    Thumbnails are embedded as data URIs, so the page is a single file that
    can be mailed or opened anywhere.
    """
    cards = []
    for row in report.itertuples(index=False):
        top5 = "".join(f"<li>{html.escape(entry)}</li>" for entry in row.top5.split(", "))
        src = thumbnail(row.item)
        img = (
            f'<img src="{src}" alt="{html.escape(str(row.item))}">' if src else '<div class="missing">unreadable</div>'
        )
        cards.append(
            f'<figure class="card">{img}<figcaption>'
            f'<div class="name" title="{html.escape(str(row.item))}">{html.escape(Path(str(row.item)).name)}</div>'
            f"<div>label <b>{html.escape(str(row.label))}</b>; best {html.escape(str(row.label))} class "
            f"<b>{html.escape(row.best_class)}</b> at rank <b>{row.rank}</b></div>"
            f"<ol>{top5}</ol></figcaption></figure>"
        )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font: 14px/1.35 system-ui, sans-serif; margin: 1.5em; color: #222; }}
.sheet {{ display: flex; flex-wrap: wrap; gap: 12px; }}
.card {{ width: {THUMBNAIL + 16}px; margin: 0; padding: 8px; border: 1px solid #ccc; border-radius: 6px; }}
.card img {{ display: block; max-width: {THUMBNAIL}px; max-height: {THUMBNAIL}px; margin: auto; }}
.missing {{ height: {THUMBNAIL // 2}px; background: #eee; text-align: center; }}
.name {{ font-weight: 600; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }}
ol {{ margin: 4px 0 0 0; padding-left: 1.4em; font-size: 12px; }}
</style></head>
<body><h1>{html.escape(title)}</h1><p>{html.escape(note)}</p>
<div class="sheet">
{chr(10).join(cards)}
</div></body></html>
"""
