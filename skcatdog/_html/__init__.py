"""The package's one way to make pages: the contact sheet, the audit page and the reports.

:mod:`.kit` holds what every page is made of (the stylesheet, escaping,
thumbnails, photo cards, the keep / drop / relabel controls and their export
script, the page around a body); :mod:`.table` the DataFrame of photos that a
notebook shows with thumbnails; :mod:`.contact` the outliers' contact sheet.
Every piece of text that comes from the data goes through :func:`esc`.
"""

from .contact import contact_sheet
from .kit import (
    ACTIONS,
    DECISIONS,
    EXPORT_SCRIPT,
    STYLE,
    THUMBNAIL,
    card,
    decision_controls,
    document,
    esc,
    export_button,
    fragment,
    image,
    short_name,
    thumbnail,
    top_list,
)
from .table import PhotoTable, photo_table

__all__ = [
    "ACTIONS",
    "DECISIONS",
    "EXPORT_SCRIPT",
    "STYLE",
    "THUMBNAIL",
    "PhotoTable",
    "card",
    "contact_sheet",
    "decision_controls",
    "document",
    "esc",
    "export_button",
    "fragment",
    "image",
    "photo_table",
    "short_name",
    "thumbnail",
    "top_list",
]
