"""A DataFrame of photos that a notebook shows with their thumbnails."""

from __future__ import annotations

import numbers

import pandas as pd

from .kit import esc, fragment, image, thumbnail


def _cell(value):
    if isinstance(value, numbers.Real) and not isinstance(value, numbers.Integral):
        return f"{value:.4g}"
    return "" if value is None else value


def photo_table(table, photo, max_rows=None):
    """A notebook's view of a table of photos: a thumbnail before each row, the other cells escaped.

    ``photo(item)`` gives what to show for an ``item`` cell (a path or an array).
    """
    max_rows = max_rows or pd.get_option("display.max_rows") or 60
    head = "".join(f"<th>{esc(c)}</th>" for c in table.columns)
    rows = []
    for index, row in zip(table.index[:max_rows], table.head(max_rows).itertuples(index=False), strict=True):
        item = row[table.columns.get_loc("item")]
        cells = "".join(f"<td>{esc(_cell(v))}</td>" for v in row)
        rows.append(f"<tr><th>{esc(index)}</th><td>{image(thumbnail(photo(item)), item)}</td>{cells}</tr>")
    more = f"<p>&hellip; and {len(table) - max_rows} more rows</p>" if len(table) > max_rows else ""
    shape = f"<p>{len(table)} rows &times; {len(table.columns)} columns</p>"
    return fragment(f'<table class="photos"><tr><th></th><th>photo</th>{head}</tr>{"".join(rows)}</table>{more}{shape}')


class PhotoTable(pd.DataFrame):
    """A DataFrame of photos (an ``item`` column) that a notebook shows with thumbnails.

    Its contents and columns are those of an ordinary DataFrame; only its
    HTML representation differs: a thumbnail before each row, every file
    name escaped. Slices and copies keep the photos.

    Parameters
    ----------
    data : pandas.DataFrame or anything the DataFrame constructor takes
        The table.
    index : Index or array-like, default=None
        As for :class:`pandas.DataFrame`.
    columns : Index or array-like, default=None
        As for :class:`pandas.DataFrame`.
    dtype : dtype, default=None
        As for :class:`pandas.DataFrame`.
    copy : bool, default=None
        As for :class:`pandas.DataFrame`.
    images : sequence, default=None
        The photo of each row (a path or an ``HxWx3`` uint8 array), when the
        ``item`` column does not name a file (arrays are named ``"X[i] (array)"``).

    Examples
    --------
    >>> from skcatdog.report import PhotoTable
    >>> table = PhotoTable({"item": ["cat.1.jpg"], "audit": ["none"]})
    >>> table.shape, list(table.columns)
    ((1, 2), ['item', 'audit'])
    >>> table.photo_of("cat.1.jpg")
    'cat.1.jpg'
    """

    _metadata = ["_skcatdog_photos"]

    def __init__(self, data=None, index=None, columns=None, dtype=None, copy=None, *, images=None):
        super().__init__(data, index=index, columns=columns, dtype=dtype, copy=copy)
        if images is not None:
            self._skcatdog_photos = dict(zip(self["item"], images, strict=True))
        elif not hasattr(self, "_skcatdog_photos"):
            self._skcatdog_photos = getattr(data, "_skcatdog_photos", {})

    @property
    def _constructor(self):
        return PhotoTable

    def _repr_html_(self):
        if "item" not in self.columns:
            return super()._repr_html_()
        return photo_table(self, self.photo_of)

    def photo_of(self, item):
        """What a row's thumbnail shows.

        Parameters
        ----------
        item : str
            A value of the ``item`` column.

        Returns
        -------
        str or ndarray
            The photo's path, or its array when the table was given ``images``.
        """
        return getattr(self, "_skcatdog_photos", {}).get(item, item)
