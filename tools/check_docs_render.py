"""Check that the built documentation renders in headless Chromium.

Opens the site's index and two gallery pages, as a reader's browser would:

* the index must run the theme's JavaScript (it sets ``data-theme`` on the page)
  and show its navigation and text;
* the gallery pages' figures (the outlier contact sheet and the training
  report's mistakes, grids of photos) must appear as solid blocks of many
  colours, the test that ``tools/check_report_renders.py`` applies to the
  CLI's pages.

    python tools/check_docs_render.py [doc/_build/html]

Exit status: 0 all render, 1 one does not, 2 the check could not run (no
Chromium, no built site).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from check_report_renders import check, find_chromium, screenshot  # noqa: E402

GALLERY_PAGES = ("auto_examples/plot_outlier_contact_sheet.html", "auto_examples/plot_training_report.html")
#: Text and navigation of the index page give tens of thousands of dark pixels; a
#: blank or unstyled error page gives few.
MIN_INK_PIXELS = 5000
#: The gallery page is tall: the whole of it fits in one screenshot this high.
GALLERY_WINDOW = (1200, 9000)
#: The contact sheet's photos give tens of thousands of colours (69,000 when this was
#: written); the same page without its figure, code blocks and text only, about 1,400.
MIN_GALLERY_COLOURS = 10_000
MIN_GALLERY_PIXELS = 2000


def dump_dom(html, chromium, timeout=120):
    """The page's DOM after its scripts ran."""
    with tempfile.TemporaryDirectory(prefix="skcatdog-chromium-") as profile:
        cmd = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]
        cmd += [f"--user-data-dir={profile}", "--dump-dom", Path(html).resolve().as_uri()]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"chromium failed (exit {proc.returncode}): {proc.stderr.strip()[-500:]}")
    return proc.stdout


def ink_pixels(png):
    import numpy as np
    from PIL import Image

    with Image.open(png) as img:
        return int((np.asarray(img.convert("L")) < 128).sum())


def check_index(site, chromium):
    index = site / "index.html"
    dom = dump_dom(index, chromium)
    problems = []
    if 'data-theme="light"' not in dom and 'data-theme="dark"' not in dom:
        problems.append("the theme's JavaScript did not run (no data-theme on <html>)")
    for text in ("API reference", "User guide", "Gallery"):
        if text not in dom:
            problems.append(f"no {text!r} in the page")
    with tempfile.TemporaryDirectory(prefix="skcatdog-render-") as tmp:
        ink = ink_pixels(screenshot(index, Path(tmp) / "index.png", chromium))
    if ink < MIN_INK_PIXELS:
        problems.append(f"{ink} dark pixels on screen, need {MIN_INK_PIXELS}")
    verdict = "renders" if not problems else "does NOT render: " + "; ".join(problems)
    return not problems, f"{index}: {verdict} ({ink} dark pixels)"


def check_gallery(site, chromium, page):
    return check(
        site / page,
        chromium=chromium,
        window=GALLERY_WINDOW,
        min_pixels=MIN_GALLERY_PIXELS,
        min_colours=MIN_GALLERY_COLOURS,
        what="its figures",
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("site", nargs="?", default="doc/_build/html", help="the built HTML site")
    args = parser.parse_args(argv)
    site = Path(args.site)
    chromium = find_chromium()
    if chromium is None:
        print("check_docs_render: cannot check: no chromium on PATH", file=sys.stderr)
        return 2
    for page in ("index.html", *GALLERY_PAGES):
        if not (site / page).is_file():
            print(f"check_docs_render: cannot check: no {site / page} (build the docs first)", file=sys.stderr)
            return 2
    status = 0
    checks = [check_index] + [
        lambda site, chromium, page=page: check_gallery(site, chromium, page) for page in GALLERY_PAGES
    ]
    for page_check in checks:
        try:
            ok, message = page_check(site, chromium)
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            print(f"check_docs_render: cannot check: {exc}", file=sys.stderr)
            return 2
        print(message, file=sys.stdout if ok else sys.stderr)
        status = status or (0 if ok else 1)
    return status


if __name__ == "__main__":
    sys.exit(main())
