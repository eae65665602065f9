"""The reports' HTML: figures as embedded PNGs, photo cards, the decisions controls, a notebook table.

Every piece of text that comes from the data (file names, labels, ImageNet
classes, the model's repr) goes through :func:`html.escape`: a file named
``<script>.jpg`` is shown, not run.
"""

from __future__ import annotations

import base64
import io

from .._html import EXPORT_SCRIPT, card, decision_controls, esc, export_button, thumbnail, top_list
from .._kaggle import KAGGLE_TOP10, REFERENCE


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


def _verdict(row):
    if row.audit == "none":
        return '<div class="verdict">audit: nothing to say</div>'
    suggestion = f" &rarr; <b>{esc(row.suggested_label)}</b>" if row.audit == "wrong label" else ""
    css = "v-" + row.audit.replace(" ", "-")
    detail = f'<div class="detail">{esc(row.audit_detail)}</div>'
    return f'<div class="verdict {css}">{esc(row.audit)}{suggestion}</div>{detail}'


def _top(text):
    return top_list(text.split(", ")) if text else ""


def mistake_card(row, photo, decision):
    given = f"<div>label <b>{esc(row.given_label)}</b>, P = {row.proba_given:.4f} (fold {row.fold + 1})</div>"
    return card(
        thumbnail(photo), row.item, [given, _verdict(row), _top(row.top_imagenet)], decision_controls(*decision)
    )


def prediction_card(row, photo):
    predicted = f"<div><b>{esc(row.predicted_label)}</b>, confidence {row.confidence:.4f}</div>"
    return card(thumbnail(photo), row.item, [predicted, _verdict(row), _top(row.top_imagenet)])


def _settings(settings, machine):
    rows = "".join(f"<tr><th>{esc(k)}</th><td><pre>{esc(v)}</pre></td></tr>" for k, v in settings.items())
    return f"<h2>Settings</h2><table>{rows}</table><h2>Machine</h2><pre>{esc(machine)}</pre>"


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
    """The training report's body and script, for a page or a notebook's output."""
    mistakes = report.mistakes
    shown = mistakes.head(report.max_mistakes)
    decided = dict(zip(mistakes["item"], ((a, label) for _, a, label in report.decisions), strict=True))
    cards = "".join(mistake_card(r, mistakes.photo_of(r.item), decided[r.item]) for r in shown.itertuples(index=False))
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
{export_button()}.</p>
<div class="sheet">{cards or "<p>No mistake.</p>"}</div>
{_settings(report.settings, report.machine)}"""
    return body, EXPORT_SCRIPT


def prediction_body(report):
    """The prediction report's body and (no) script, for a page or a notebook's output."""
    table = report.predictions
    shown = table.head(report.max_photos)
    cards = "".join(prediction_card(r, table.photo_of(r.item)) for r in shown.itertuples(index=False))
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
    return body, ""
