"""The pieces every page is made of: one stylesheet, escaping, thumbnails, cards, the decisions controls.

A page's body goes inside one root element whose id is unique, with the
stylesheet scoped to it and its script looking things up from it: the same
body is a whole page (:func:`document`) or a notebook output (:func:`fragment`),
and two outputs in one notebook do not reach into each other.
"""

from __future__ import annotations

import base64
import html
import io
import json
import os
import uuid

#: The longest side of a thumbnail, in pixels.
THUMBNAIL = 192

#: A decisions file's columns; ``action`` is one of :data:`ACTIONS`.
DECISIONS = ("item", "action", "label")
ACTIONS = ("keep", "drop", "relabel")

#: The one stylesheet, scoped to a page's root element (``.skc``) so that a notebook's own styles are untouched.
STYLE = f"""
.skc {{ font: 14px/1.35 system-ui, sans-serif; color: #222; }}
.skc h2 {{ margin: 1.2em 0 0.4em; font-size: 18px; }}
.skc table.scores td, .skc table.scores th {{ padding: 2px 10px; text-align: right; }}
.skc .figures {{ display: flex; flex-wrap: wrap; gap: 12px; align-items: flex-start; }}
.skc .figures img {{ max-width: 100%; }}
.skc .sheet {{ display: flex; flex-wrap: wrap; gap: 12px; }}
.skc .card {{ width: {THUMBNAIL + 16}px; margin: 0; padding: 8px; border: 1px solid #ccc; border-radius: 6px; }}
.skc .card img {{ display: block; max-width: {THUMBNAIL}px; max-height: {THUMBNAIL}px; margin: auto; }}
.skc .missing {{ height: {THUMBNAIL // 2}px; background: #eee; text-align: center; }}
.skc .name {{ font-weight: 600; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }}
.skc .verdict {{ font-weight: 600; }}
.skc .v-wrong-label {{ color: #b00; }} .skc .v-off-topic {{ color: #a50; }} .skc .v-poor-photo {{ color: #555; }}
.skc .detail, .skc ol {{ font-size: 12px; color: #555; }}
.skc ol {{ margin: 4px 0; padding-left: 1.4em; }}
.skc pre {{ font-size: 12px; background: #f6f6f6; padding: 8px; overflow-x: auto; white-space: pre-wrap; }}
.skc table.photos td {{ vertical-align: top; padding: 2px 6px; }}
.skc table.photos img {{ max-width: 96px; max-height: 96px; }}
.skc .tab {{ margin: 0 4px 8px 0; padding: 4px 10px; }} .skc .tab.on {{ font-weight: 700; }}
.skc .panel {{ display: none; }} .skc .panel.on {{ display: flex; flex-wrap: wrap; gap: 12px; }}
.skc .set {{ display: flex; flex-wrap: wrap; gap: 8px; padding: 6px; border: 1px dashed #999; }}
.skc .set h3 {{ width: 100%; margin: 0; font-size: 12px; }}
"""

#: The "Export decisions" button's script: one line per card with choices (the last card of an item wins).
EXPORT_SCRIPT = """
const button = root.querySelector(".export");
function quote(s) { return /[",\\n]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s; }
if (button) button.addEventListener("click", () => {
  const seen = new Map();
  root.querySelectorAll(".card[data-item]").forEach(c => {
    seen.set(c.dataset.item, [c.querySelector(".action").value, c.querySelector(".label").value]);
  });
  const lines = [HEADER];
  seen.forEach((v, item) => lines.push([item, v[0], v[0] === "relabel" ? v[1] : ""].map(quote).join(",")));
  const a = document.createElement("a");
  a.href = URL.createObjectURL(new Blob([lines.join("\\n") + "\\n"], {type: "text/csv"}));
  a.download = "decisions.csv";
  a.click();
});
""".replace("HEADER", json.dumps(",".join(DECISIONS)))


def esc(value):
    """``value`` as HTML text: a file named ``<script>.jpg`` is shown, not run."""
    return html.escape(str(value))


def short_name(name):
    """A path's file name, whichever separator it uses."""
    return str(name).replace("\\", "/").rsplit("/", 1)[-1]


def _jpeg_uri(img):
    img.thumbnail((THUMBNAIL, THUMBNAIL))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=80)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def thumbnail(photo):
    """A JPEG thumbnail as a data URI, of an image file or an ``HxWx3`` uint8 array; ``""`` if it cannot be shown."""
    from PIL import Image, ImageOps

    if isinstance(photo, (str, os.PathLike)):
        try:
            with Image.open(photo) as img:
                return _jpeg_uri(ImageOps.exif_transpose(img).convert("RGB"))
        except OSError:
            return ""
    if hasattr(photo, "__array_interface__"):
        try:
            return _jpeg_uri(Image.fromarray(photo).convert("RGB"))
        except (TypeError, ValueError):
            return ""
    return ""


def image(src, name):
    """An ``<img>`` for a data URI, or a grey placeholder where there is none."""
    return f'<img src="{src}" alt="{esc(name)}">' if src else '<div class="missing">no preview</div>'


def top_list(entries):
    """An ordered list of short lines (top ImageNet classes), each escaped; ``""`` for none."""
    entries = [entry for entry in entries if entry]
    return "<ol>" + "".join(f"<li>{esc(entry)}</li>" for entry in entries) + "</ol>" if entries else ""


def decision_controls(action, label=""):
    """A keep / drop / relabel choice and the new label's field, set to ``action`` and ``label``."""
    options = "".join(f'<option value="{a}"{" selected" if a == action else ""}>{a}</option>' for a in ACTIONS)
    field = f'<input class="label" value="{esc(label)}" placeholder="new label" size="8">'
    return f'<select class="action">{options}</select> {field}'


def export_button():
    """The button :data:`EXPORT_SCRIPT` saves the choices with, and what the file is for."""
    return '<button class="export">Export decisions</button> (a CSV for <code>skcatdog train --decisions</code>)'


def card(src, name, lines=(), controls=""):
    """One photo's card: its thumbnail (a data URI), its file name, caption lines (HTML) and any controls.

    A card with controls carries its item's name, for the decisions export.
    """
    item = f' data-item="{esc(name)}"' if controls else ""
    return (
        f'<figure class="card"{item}>{image(src, name)}<figcaption>'
        f'<div class="name" title="{esc(name)}">{esc(short_name(name))}</div>'
        f"{''.join(lines)}{controls}</figcaption></figure>"
    )


def fragment(body, script=""):
    """``body`` in a root element with the stylesheet; ``script`` runs with ``root`` bound to that element."""
    root = f"skc-{uuid.uuid4().hex[:12]}"
    if script:
        find = f"const root = document.getElementById({json.dumps(root)});"
        script = f"<script>(function () {{\n{find}\n{script}}})();</script>"
    return f'<style>{STYLE}</style><div class="skc" id="{root}">{body}</div>{script}'


def document(title, body, script=""):
    """A whole self-contained page: ``body`` and its ``script`` as :func:`fragment` puts them."""
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{esc(title)}</title>'
        f"<style>body {{ margin: 1.5em; }}</style></head>\n<body>{fragment(body, script)}</body></html>\n"
    )
