"""Check that an `skcatdog outliers --report` contact sheet shows its thumbnails.

Renders the page in headless Chromium and looks at the screenshot: the
thumbnails must appear as solid blocks of many different colours, which text,
borders, the "unreadable" placeholder and a broken-image icon never give.

    python tools/check_report_renders.py outliers.html [--screenshot shot.png]

Exit status: 0 the thumbnails render, 1 they do not, 2 the check could not run
(no Chromium, no such file).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

WINDOW = (1200, 900)
#: A pixel is "ink" if any channel is darker than this (page background is white,
#: the .missing placeholder #eee).
INK = 235
#: Half the side of the square that must be all ink around a pixel for it to count
#: as part of a picture: strokes of text (even the bold 2em heading), 1px card
#: borders and the 16px broken-image icon are thinner than 2 * SOLID + 1 = 9 px.
SOLID = 4
#: Thresholds for "the thumbnails render". A page of photo thumbnails gives
#: 100,000+ solid pixels in tens of thousands of colours, a single black and white
#: portrait ~7,000 pixels in ~3,000 colours; the same pages with broken images, or
#: text only, give under 20 pixels. (A thumbnail that is mostly white, say a logo
#: on a white ground, has few solid pixels: the check is for pages of photos.)
MIN_SOLID_PIXELS = 2000
MIN_COLOURS = 100


def find_chromium():
    """Path of a Chromium (or Chrome) binary, or None."""
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


def screenshot(html, png, chromium=None, window=WINDOW, timeout=120):
    """Render the file ``html`` with headless Chromium into ``png``."""
    chromium = chromium or find_chromium()
    if chromium is None:
        raise FileNotFoundError("no chromium on PATH")
    html, png = Path(html).resolve(), Path(png).resolve()
    with tempfile.TemporaryDirectory(prefix="skcatdog-chromium-") as profile:
        cmd = [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--no-first-run",
            f"--user-data-dir={profile}",
            f"--screenshot={png}",
            f"--window-size={window[0]},{window[1]}",
            html.as_uri(),
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    if proc.returncode != 0 or not png.is_file():
        raise RuntimeError(f"chromium failed (exit {proc.returncode}): {proc.stderr.strip()[-500:]}")
    return png


def picture_stats(png):
    """``(solid_pixels, colours)`` of a screenshot.

    ``solid_pixels`` counts pixels whose whole (2*SOLID+1)-square neighbourhood
    is ink, i.e. inside a picture rather than on a text stroke or a border;
    ``colours`` is the number of distinct RGB values among them.
    """
    import numpy as np
    from PIL import Image

    with Image.open(png) as img:
        rgb = np.asarray(img.convert("RGB"))
    ink = (rgb < INK).any(axis=2)
    side = 2 * SOLID + 1
    # Ink count in every side x side window, from a summed-area table.
    sat = np.pad(ink.astype(np.int32).cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    window = sat[side:, side:] - sat[:-side, side:] - sat[side:, :-side] + sat[:-side, :-side]
    solid = np.zeros_like(ink)
    solid[SOLID:-SOLID, SOLID:-SOLID] = window == side * side
    pixels = rgb[solid]
    colours = len(np.unique(pixels.astype(np.int64) @ np.array([1 << 16, 1 << 8, 1]))) if len(pixels) else 0
    return int(solid.sum()), colours


def check(
    html,
    png=None,
    chromium=None,
    *,
    window=WINDOW,
    min_pixels=MIN_SOLID_PIXELS,
    min_colours=MIN_COLOURS,
    what="thumbnails",
):
    """``(ok, message)``: whether the page at ``html`` shows its pictures (``what``).

    Raises FileNotFoundError without Chromium or without the page.
    """
    html = Path(html)
    if not html.is_file():
        raise FileNotFoundError(f"{os.fspath(html)!r} does not exist")
    with tempfile.TemporaryDirectory(prefix="skcatdog-render-") as tmp:
        png = screenshot(html, png or Path(tmp) / "shot.png", chromium, window=window)
        solid, colours = picture_stats(png)
    ok = solid >= min_pixels and colours >= min_colours
    verdict = f"{what} render" if ok else f"{what} do NOT render"
    return ok, (
        f"{os.fspath(html)}: {verdict} ({solid} picture pixels, need {min_pixels}; "
        f"{colours} colours, need {min_colours}) in a {window[0]}x{window[1]} headless Chromium screenshot"
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("report", help="HTML file written by `skcatdog outliers --report`")
    parser.add_argument("--screenshot", metavar="PNG", help="keep the screenshot here")
    args = parser.parse_args(argv)
    try:
        ok, message = check(args.report, args.screenshot)
    except (FileNotFoundError, RuntimeError, subprocess.TimeoutExpired) as exc:
        print(f"check_report_renders: cannot check: {exc}", file=sys.stderr)
        return 2
    print(message, file=sys.stdout if ok else sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
