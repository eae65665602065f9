"""What ``training_report`` costs beyond a plain cross-validation, and whether it finds flipped labels.

    python benchmarks/bench_report.py [--data FOLDER] [--out FOLDER] [--pages DIR]

On a folder of photos and a warm embedding cache (run ``examples/cross_validate.py``
on it first), in one process and in this order: a plain ``cross_validate`` of
``make_default_pipeline()``, ``training_report`` on the same folds, the plain
cross-validation again and the report again (the machine's load drifts: the
pairs bracket it), then the report on a copy of the labels with 20 flipped
(10 each way). Prints the times with the CPU model, and how many flips are
among the page's first 40 mistakes marked as wrong labels with the right
suggestion; writes ``report.csv`` and both pages into ``--pages``.
"""

import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import _common as bench
import numpy as np
from sklearn.model_selection import StratifiedKFold, cross_validate

from skcatdog import _engine, make_default_pipeline
from skcatdog.report import training_report


def flip(labels, n=20, seed=0):
    """A copy of ``labels`` with ``n // 2`` of each of two labels swapped; the flipped indices."""
    rng = np.random.default_rng(seed)
    a, b = np.unique(labels)[:2]
    picks = np.concatenate([rng.choice(np.flatnonzero(labels == c), n // 2, replace=False) for c in (a, b)])
    flipped = labels.copy()
    flipped[picks] = np.where(labels[picks] == a, b, a)
    return flipped, picks


def timed(fn, *args):
    """``(wall seconds, CPU seconds of this process, result)``: on a shared machine the CPU time is the steadier."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn(*args)
    return time.perf_counter() - wall, time.process_time() - cpu, result


def plain_cv(paths, labels):
    cv = StratifiedKFold(5, shuffle=True, random_state=0)
    res = cross_validate(make_default_pipeline(), paths, labels, cv=cv, scoring=["neg_log_loss", "accuracy"])
    return float(-res["test_neg_log_loss"].mean())


def report_of(paths, labels):
    return training_report(make_default_pipeline(), paths, labels)


def main():
    parser = bench.parser(__doc__.split("\n\n")[0])
    parser.add_argument("--pages", default=".", help="where the two pages go")
    args = parser.parse_args()
    out = Path(args.pages)
    out.mkdir(parents=True, exist_ok=True)
    paths, labels = bench.load_photos(bench.data_folder(args.data))
    paths = np.asarray(paths)
    print(bench.machine_line())
    times = {"cv": [], "report": []}
    for _ in range(2):
        wall, cpu, loss = timed(plain_cv, paths, labels)
        times["cv"].append((wall, cpu))
        print(f"plain cross_validate  {wall:7.1f} s wall {cpu:7.1f} s CPU  log-loss {loss:.5f}", flush=True)
        _engine.stats.reset()
        wall, cpu, report = timed(report_of, paths, labels)
        times["report"].append((wall, cpu))
        phases = ", ".join(f"{k} {v:.1f} s" for k, v in report.timings.items())
        print(
            f"training_report       {wall:7.1f} s wall {cpu:7.1f} s CPU  log-loss {report.log_loss:.5f}  "
            f"(wall: {phases}; {_engine.stats.images_forwarded} images forwarded)",
            flush=True,
        )
    report.write(out / "report.html")
    for k in range(2):
        (cv_wall, cv_cpu), (rep_wall, rep_cpu) = times["cv"][k], times["report"][k]
        print(
            f"pair {k + 1}: the report costs {rep_wall / cv_wall - 1:+.1%} wall, {rep_cpu / cv_cpu - 1:+.1%} CPU "
            "over a plain cross_validate"
        )
    flipped, picks = flip(labels)
    seconds, _, report = timed(report_of, paths, flipped)
    report.write(out / "report-flipped.html")
    first = report.mistakes.head(40)
    truth = dict(zip(paths[picks], labels[picks], strict=True))
    found = first[first["item"].isin(truth)]
    right = found[(found["audit"] == "wrong label") & (found["suggested_label"] == found["item"].map(truth))]
    print(
        f"flipped labels: {len(found)} of 20 among the first 40 mistakes, {len(right)} marked as wrong labels "
        f"with the right suggestion ({seconds:.1f} s)"
    )
    rows = [
        [f"pair {k + 1}", cv_wall, rep_wall, rep_wall / cv_wall, cv_cpu, rep_cpu, rep_cpu / cv_cpu]
        for k, ((cv_wall, cv_cpu), (rep_wall, rep_cpu)) in enumerate(zip(times["cv"], times["report"], strict=True))
    ]
    bench.write_result(
        "report",
        [
            "round",
            "cross_validate s",
            "training_report s",
            "ratio",
            "cross_validate CPU s",
            "report CPU s",
            "CPU ratio",
        ],
        rows,
        title="training_report against a plain cross_validate (warm cache)",
        what=f"{len(paths):,} photos, make_default_pipeline, 5 folds; flipped labels: {len(right)} of 20 among the "
        "first 40 mistakes, marked as wrong labels with the right suggestion",
        out=args.out,
    )


if __name__ == "__main__":
    main()
