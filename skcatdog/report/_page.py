"""The reports' HTML: figures as embedded PNGs, photo cards, the decisions controls, a notebook table.

Every piece of text that comes from the data (file names, labels, ImageNet
classes, the model's repr) goes through :func:`html.escape`: a file named
``<script>.jpg`` is shown, not run.
"""

from __future__ import annotations

import base64
import html
import io
import json
import os
import uuid

import numpy as np

from .. import _html
from .._kaggle import KAGGLE_TOP10, REFERENCE
from ..audit.report import DECISIONS

STYLE = """
.skr { font: 14px/1.35 system-ui, sans-serif; color: #222; }
.skr h2 { margin: 1.2em 0 0.4em; font-size: 18px; }
.skr table.scores td, .skr table.scores th { padding: 2px 10px; text-align: right; }
.skr .figures { display: flex; flex-wrap: wrap; gap: 12px; align-items: flex-start; }
.skr .figures img { max-width: 100%; }
.skr .sheet { display: flex; flex-wrap: wrap; gap: 12px; }
.skr .card { width: 208px; margin: 0; padding: 8px; border: 1px solid #ccc; border-radius: 6px; }
.skr .card img { display: block; max-width: 192px; max-height: 192px; margin: auto; }
.skr .missing { height: 96px; background: #eee; text-align: center; }
.skr .name { font-weight: 600; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.skr .verdict { font-weight: 600; }
.skr .v-wrong-label { color: #b00; } .skr .v-off-topic { color: #a50; } .skr .v-poor-photo { color: #555; }
.skr .detail, .skr ol { font-size: 12px; color: #555; }
.skr ol { margin: 4px 0; padding-left: 1.4em; }
.skr pre { font-size: 12px; background: #f6f6f6; padding: 8px; overflow-x: auto; white-space: pre-wrap; }
.skr table.photos td { vertical-align: top; padding: 2px 6px; }
.skr table.photos img { max-width: 96px; max-height: 96px; }
"""

#: The export button's script; ``ROOT`` is the report's element id, so two reports in one notebook stay apart.
SCRIPT = """
(function () {
  const root = document.getElementById(ROOT);
  const button = root && root.querySelector(".export");
  if (!button) return;
  function quote(s) { return /[",\\n]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s; }
  button.addEventListener("click", () => {
    const lines = [HEADER];
    root.querySelectorAll(".card[data-item]").forEach(c => {
      const action = c.querySelector(".action").value, label = c.querySelector(".label").value;
      lines.push([c.dataset.item, action, action === "relabel" ? label : ""].map(quote).join(","));
    });
    const a = document.createElement("a");
    a.href = URL.createObjectURL(new Blob([lines.join("\\n") + "\\n"], {type: "text/csv"}));
    a.download = "decisions.csv";
    a.click();
  });
})();
"""


def esc(value):
    return html.escape(str(value))


def thumbnail(photo):
    """A data URI for a path or an ``HxWx3`` uint8 array; ``""`` if it cannot be shown."""
    if isinstance(photo, np.ndarray):
        from PIL import Image

        try:
            img = Image.fromarray(photo).convert("RGB")
        except (TypeError, ValueError):
            return ""
        img.thumbnail((_html.THUMBNAIL, _html.THUMBNAIL))
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=80)
        return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
    if isinstance(photo, (str, os.PathLike)):
        return _html.thumbnail(photo)
    return ""


def png(fig):
    """A Matplotlib figure as an ``<img>`` with a PNG data URI (one file, no fetching)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="figure">'


def _figure(*args, **kwargs):
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:  # matplotlib is not among the package's dependencies
        raise ImportError("the report's figures need Matplotlib: pip install matplotlib") from exc
    # A bare Figure, not pyplot's: nothing global is touched and a notebook does not show it twice.
    return Figure(*args, **kwargs)


def fold_figure(scores):
    fig = _figure(figsize=(8, 3.2), layout="constrained")
    loss_ax, acc_ax = fig.subplots(1, 2)
    folds = scores["fold"].to_numpy() + 1
    loss_ax.bar(folds, scores["log_loss"], color="#4c72b0", label="fold")
    loss_ax.axhline(scores["log_loss"].mean(), color="k", lw=1, label=f"mean {scores['log_loss'].mean():.5f}")
    loss_ax.axhline(KAGGLE_TOP10, color="#c44e52", ls="--", lw=1, label=f"Kaggle top 10% {KAGGLE_TOP10}")
    loss_ax.axhline(REFERENCE, color="#55a868", ls=":", lw=1.5, label=f"single Xception {REFERENCE}")
    loss_ax.set(xlabel="fold", ylabel="log-loss (lower is better)", xticks=folds, title="Log-loss per fold")
    loss_ax.legend(fontsize=8)
    acc_ax.bar(folds, scores["accuracy"], color="#8172b2")
    acc_ax.axhline(scores["accuracy"].mean(), color="k", lw=1, label=f"mean {scores['accuracy'].mean():.4f}")
    low = max(0.0, min(scores["accuracy"].min() - 0.02, 0.9))
    acc_ax.set(xlabel="fold", ylabel="accuracy", xticks=folds, ylim=(low, 1.0), title="Accuracy per fold")
    acc_ax.legend(fontsize=8)
    return png(fig)


def calibration_figure(y_true, classes, proba):
    """Reliability curve over a histogram of the probabilities (of the second class; for more than two
    classes, of the most probable class being right)."""
    from sklearn.calibration import CalibrationDisplay

    fig = _figure(figsize=(4.6, 5), layout="constrained")
    curve_ax, hist_ax = fig.subplots(2, 1, height_ratios=(3, 1.3), sharex=True)
    if len(classes) == 2:
        p, truth, what = proba[:, 1], y_true == classes[1], f"P({classes[1]})"
        fraction = f"fraction labelled {classes[1]}"
    else:
        p, truth, what = proba.max(axis=1), classes[proba.argmax(axis=1)] == y_true, "top-class probability"
        fraction = "fraction predicted right"
    CalibrationDisplay.from_predictions(truth, p, n_bins=10, ax=curve_ax, name="out of fold")
    curve_ax.set(title="Calibration", xlabel="", ylabel=fraction)
    curve_ax.legend(fontsize=8, loc="upper left")
    counts, _, _ = hist_ax.hist(p, bins=20, range=(0, 1), color="#4c72b0")
    if counts.max() > 50:  # most photos sit at either end: a log scale keeps the middle visible
        hist_ax.set_yscale("log")
    hist_ax.set(xlabel=f"predicted {what}", ylabel="photos")
    return png(fig)


def confusion_figure(y_true, classes, proba):
    from sklearn.metrics import ConfusionMatrixDisplay

    side = 2.4 + 0.5 * len(classes)
    fig = _figure(figsize=(side, side), layout="constrained")
    ax = fig.subplots()
    predicted = classes[proba.argmax(axis=1)]
    ConfusionMatrixDisplay.from_predictions(y_true, predicted, labels=classes, ax=ax, colorbar=False, cmap="Blues")
    ax.set_title("Confusion matrix (out of fold)")
    return png(fig)


def _photos(n):
    return f"{n} photo" if n == 1 else f"{n} photos"


def _short(name):
    return name.replace("\\", "/").rsplit("/", 1)[-1]


def _verdict(row):
    if row.audit == "none":
        return '<div class="verdict">audit: nothing to say</div>'
    suggestion = f" &rarr; <b>{esc(row.suggested_label)}</b>" if row.audit == "wrong label" else ""
    css = "v-" + row.audit.replace(" ", "-")
    detail = f'<div class="detail">{esc(row.audit_detail)}</div>'
    return f'<div class="verdict {css}">{esc(row.audit)}{suggestion}</div>{detail}'


def _top(text):
    return "<ol>" + "".join(f"<li>{esc(entry)}</li>" for entry in text.split(", ") if entry) + "</ol>" if text else ""


def _image(src, name):
    return f'<img src="{src}" alt="{esc(name)}">' if src else '<div class="missing">no preview</div>'


def mistake_card(row, photo, decision):
    name = str(row.item)
    action, label = decision
    options = "".join(
        f'<option value="{a}"{" selected" if a == action else ""}>{a}</option>' for a in ("keep", "drop", "relabel")
    )
    return (
        f'<figure class="card" data-item="{esc(name)}">{_image(thumbnail(photo), name)}<figcaption>'
        f'<div class="name" title="{esc(name)}">{esc(_short(name))}</div>'
        f"<div>label <b>{esc(row.given_label)}</b>, P = {row.proba_given:.4f} (fold {row.fold + 1})</div>"
        f"{_verdict(row)}{_top(row.top_imagenet)}"
        f'<select class="action">{options}</select> '
        f'<input class="label" value="{esc(label)}" placeholder="new label" size="8">'
        "</figcaption></figure>"
    )


def prediction_card(row, photo):
    name = str(row.item)
    return (
        f'<figure class="card">{_image(thumbnail(photo), name)}<figcaption>'
        f'<div class="name" title="{esc(name)}">{esc(_short(name))}</div>'
        f"<div><b>{esc(row.predicted_label)}</b>, confidence {row.confidence:.4f}</div>"
        f"{_verdict(row)}{_top(row.top_imagenet)}</figcaption></figure>"
    )


def _settings(settings, machine):
    rows = "".join(f"<tr><th>{esc(k)}</th><td><pre>{esc(v)}</pre></td></tr>" for k, v in settings.items())
    return f"<h2>Settings</h2><table>{rows}</table><h2>Machine</h2><pre>{esc(machine)}</pre>"


def _wrap(body, with_script=False):
    root = f"skr-{uuid.uuid4().hex[:12]}"
    script = ""
    if with_script:
        code = SCRIPT.replace("ROOT", json.dumps(root)).replace("HEADER", json.dumps(",".join(DECISIONS)))
        script = f"<script>{code}</script>"
    return f'<style>{STYLE}</style><div class="skr" id="{root}">{body}</div>{script}'


def _score_table(scores):
    rows = "".join(
        f"<tr><td>{f.fold + 1}</td><td>{f.photos}</td><td>{f.log_loss:.5f}</td><td>{f.accuracy:.4f}</td></tr>"
        for f in scores.itertuples()
    )
    mean = f"<tr><th>mean</th><td></td><th>{scores.log_loss.mean():.5f}</th><th>{scores.accuracy.mean():.4f}</th></tr>"
    head = "<tr><th>fold</th><th>photos</th><th>log-loss</th><th>accuracy</th></tr>"
    lines = "".join(
        f'<tr><td colspan="2">{what}</td><td>{value:.5f}</td><td></td></tr>'
        for what, value in (("Kaggle top 10%", KAGGLE_TOP10), ("single Xception", REFERENCE))
    )
    return f'<table class="scores">{head}{rows}{mean}{lines}</table>'


def training_body(report):
    """The training report's content, as a page's body and a notebook's output."""
    mistakes = report.mistakes
    shown = mistakes.head(report.max_mistakes)
    decided = dict(zip(mistakes["item"], ((a, label) for _, a, label in report.decisions), strict=True))
    cards = "".join(mistake_card(r, mistakes._photo(r.item), decided[r.item]) for r in shown.itertuples(index=False))
    counts = mistakes["audit"].value_counts()
    said = ", ".join(f"{counts[v]} {v}" for v in ("wrong label", "off-topic", "poor photo") if v in counts)
    scores = report.fold_scores
    n = len(report.names)
    body = f"""<h1>{esc(report.title)}</h1>
<p>{len(scores)}-fold cross-validation on {n} photos: log-loss <b>{report.log_loss:.5f}</b>
(&plusmn; {scores.log_loss.std(ddof=0):.5f}), accuracy <b>{report.accuracy:.4f}</b>;
{_photos(len(mistakes))} predicted wrong out of fold{f" (the audit says: {said})" if said else ""}.</p>
<h2>Scores per fold</h2><div class="figures">{fold_figure(scores)}{_score_table(scores)}</div>
<h2>Calibration and confusion</h2><div class="figures">
{calibration_figure(report.y_true, report.classes, report.y_proba)}
{confusion_figure(report.y_true, report.classes, report.y_proba)}</div>
<h2>The most confident mistakes</h2>
<p>The {len(shown)} photos whose given label got the lowest out-of-fold probability, worst first, of
{len(mistakes)} mistakes. Each shows its given label and that probability, its top ImageNet classes and what
the audit says of it. Choose keep, drop or relabel, then
<button class="export">Export decisions</button> (a CSV for <code>skcatdog train --decisions</code>).</p>
<div class="sheet">{cards or "<p>No mistake.</p>"}</div>
{_settings(report.settings, report.machine)}"""
    return _wrap(body, with_script=True)


def prediction_body(report):
    """The prediction report's content, as a page's body and a notebook's output."""
    table = report.predictions
    shown = table.head(report.max_photos)
    cards = "".join(prediction_card(r, table._photo(r.item)) for r in shown.itertuples(index=False))
    fig = _figure(figsize=(5, 2.6), layout="constrained")
    ax = fig.subplots()
    ax.hist(table["confidence"], bins=20, range=(1 / max(len(report.classes), 1), 1), color="#4c72b0")
    ax.set(xlabel="confidence (highest probability)", ylabel="photos", title="How sure the model is")
    counts = table["predicted_label"].value_counts()
    body = f"""<h1>{esc(report.title)}</h1>
<p>{len(table)} photos: {esc(", ".join(f"{n} {c}" for c, n in counts.items()))}.</p>
<div class="figures">{png(fig)}</div>
<h2>The least confident predictions</h2><p>{len(shown)} of {len(table)} photos, least confident first.</p>
<div class="sheet">{cards or "<p>No photo.</p>"}</div>
{_settings(report.settings, report.machine)}"""
    return _wrap(body)


def photo_table(table, photo, max_rows=None):
    """A notebook's view of a table of photos: a thumbnail before each row, the other cells escaped."""
    import pandas as pd

    max_rows = max_rows or pd.get_option("display.max_rows") or 60
    head = "".join(f"<th>{esc(c)}</th>" for c in table.columns)
    rows = []
    for index, row in zip(table.index[:max_rows], table.head(max_rows).itertuples(index=False), strict=True):
        src = thumbnail(photo(row.item))
        cells = "".join(f"<td>{esc(_cell(v))}</td>" for v in row)
        rows.append(f"<tr><th>{esc(index)}</th><td>{_image(src, row.item)}</td>{cells}</tr>")
    more = f"<p>&hellip; and {len(table) - max_rows} more rows</p>" if len(table) > max_rows else ""
    shape = f"<p>{len(table)} rows &times; {len(table.columns)} columns</p>"
    return (
        f'<style>{STYLE}</style><div class="skr"><table class="photos"><tr><th></th><th>photo</th>{head}</tr>'
        f"{''.join(rows)}</table>{more}{shape}</div>"
    )


def _cell(value):
    if isinstance(value, float | np.floating):
        return f"{value:.4g}"
    return "" if value is None else value


def document(title, body):
    """A whole page around a report's body."""
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{esc(title)}</title>'
        f"<style>body {{ margin: 1.5em; }}</style></head>\n<body>{body}</body></html>\n"
    )
