"""The harness every benchmark runs on: where the photos are, how a measure is timed, where results go.

* :func:`parser` and :func:`data_folder`: the photo folder comes from ``--data``, else the
  ``SKCATDOG_DATA`` environment variable, else :data:`DEFAULT_DATA` (defined here and nowhere else).
* :func:`cv_log_loss`: 5-fold cross-validated Kaggle log-loss of features, one definition of folds.
* :func:`images_per_second` and :func:`alternating_rounds`: the bare forward pass, each candidate
  timed in turn, round after round, so that a machine whose speed drifts slows all of them alike.
* :func:`run_child` and :func:`new_process_runs`: a child program (a module in ``children/``) in a
  new process, for start-up and first-call timings.
* :func:`write_result`: the CSV file that ``benchmarks/results/README.md`` defines, headed by the
  machine line, and the same table printed.
* :func:`runtimes`: the package's optional CPU runtimes, imported in this one place.

Numbers are compared as ratios measured in one process (or in alternating new processes): absolute
speeds move by several times between machines, and by a quarter within minutes on a shared one.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
CHILDREN = HERE / "children"
DATA_ENV = "SKCATDOG_DATA"
# The project's shared photos beside the checkout: train/{cat,dog}/ and outliers/ (48 known junk photos).
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "dogs-vs-cats" / "train"

__all__ = [
    "DATA_ENV",
    "DEFAULT_DATA",
    "RESULTS",
    "alternating_rounds",
    "cores",
    "cpu_flags",
    "cpu_model",
    "cv_log_loss",
    "data_folder",
    "fmt",
    "gpu_model",
    "images_per_second",
    "load_photos",
    "machine_line",
    "new_process_runs",
    "outliers_folder",
    "parser",
    "run_child",
    "runtimes",
    "write_result",
]

# --------------------------------------------------------------------------------------------
# Photos and arguments


def parser(description, *, data=True, out=True, **kwargs):
    """An ``ArgumentParser`` with the options every benchmark shares: ``--data`` and ``--out``."""
    kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
    ap = argparse.ArgumentParser(description=description, **kwargs)
    if data:
        ap.add_argument(
            "--data",
            default=None,
            help=f"a folder of photos in class sub-folders (cat/, dog/); default ${DATA_ENV}, else {DEFAULT_DATA}",
        )
    if out:
        ap.add_argument("--out", default=str(RESULTS), help="the folder the result CSV goes to (default %(default)s)")
    return ap


def data_folder(value=None):
    """The photo folder: ``value`` (``--data``), else ``$SKCATDOG_DATA``, else :data:`DEFAULT_DATA`."""
    folder = Path(value or os.environ.get(DATA_ENV) or DEFAULT_DATA).expanduser()
    if not folder.is_dir():
        sys.exit(f"no photo folder at {folder}: pass --data FOLDER or set {DATA_ENV}")
    # The package reads the same variable as the home of downloaded datasets, whose photos sit
    # several levels down: a folder without photos in its sub-folders is refused, not half-read.
    classes = [d for d in folder.iterdir() if d.is_dir() and any(_photos(d))]
    if len(classes) < 2:
        sys.exit(f"{folder} has no two sub-folders of photos (cat/, dog/): pass --data FOLDER or set {DATA_ENV}")
    return folder


def _photos(folder):
    return (p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))


def outliers_folder(data):
    """The known junk photos kept beside the training photos (``outliers/`` next to ``train/``)."""
    folder = Path(data).parent / "outliers"
    if not folder.is_dir():
        sys.exit(f"no outliers/ folder beside {data}: this benchmark needs the 48 known junk photos there")
    return folder


def load_photos(folder, limit=None):
    """Paths (a list of str) and labels (an array) of ``folder``; ``limit`` photos spread over the classes."""
    import numpy as np

    from skcatdog import load_image_folder

    paths, labels = load_image_folder(folder)
    paths, labels = [str(p) for p in paths], np.asarray(labels)
    if limit and limit < len(paths):  # evenly spaced: load_image_folder sorts by class
        pick = np.linspace(0, len(paths) - 1, limit).round().astype(int)
        paths, labels = [paths[i] for i in pick], labels[pick]
    return paths, labels


# --------------------------------------------------------------------------------------------
# Quality


def cv_log_loss(X, y, make_classifier=None, *, seed=0, n_splits=5, score=None):
    """Per-fold scores of ``make_classifier()`` fitted on each training fold.

    Folds: ``StratifiedKFold(n_splits, shuffle=True, random_state=seed)``. The classifier defaults
    to the tail of ``make_default_pipeline`` (what ``skcatdog train`` fits on the embeddings). The
    score defaults to Kaggle's log-loss; ``score(clf, X_test, y_test)`` may return anything (a dict
    of several measures from one fit), and the list of them is returned.
    """
    import numpy as np
    from sklearn.model_selection import StratifiedKFold

    from skcatdog import kaggle_log_loss, make_default_pipeline

    if make_classifier is None:

        def make_classifier():
            return make_default_pipeline(cache=None, n_jobs=1)[1:]

    if score is None:

        def score(clf, X_test, y_test):
            return kaggle_log_loss(y_test, clf.predict_proba(X_test), labels=clf.classes_)

    X, y = np.asarray(X), np.asarray(y)
    cv = StratifiedKFold(n_splits, shuffle=True, random_state=seed)
    return [score(make_classifier().fit(X[tr], y[tr]), X[te], y[te]) for tr, te in cv.split(X, y)]


# --------------------------------------------------------------------------------------------
# Timing


def images_per_second(forward, arrays, batch, *, min_seconds=0.0):
    """Images/s of ``forward`` on fixed-shape batches of ``arrays``, after one untimed batch.

    Every batch has ``batch`` rows (the last one padded), so no runtime recompiles for a new shape;
    the pass over ``arrays`` repeats until ``min_seconds`` have gone by.
    """
    import numpy as np

    buf = np.zeros((batch, *np.shape(arrays[0])), np.uint8)
    forward(buf)
    n, t = 0, time.perf_counter()
    while True:
        for start in range(0, len(arrays), batch):
            chunk = arrays[start : start + batch]
            buf[: len(chunk)] = chunk
            forward(buf)
            n += len(chunk)
        elapsed = time.perf_counter() - t
        if elapsed >= min_seconds:
            return n / elapsed if elapsed else float("inf")


def alternating_rounds(measures, rounds):
    """``{name: [value per round]}``: each measure (a callable returning a rate) once per round, in turn."""
    out = {name: [] for name in measures}
    for _ in range(rounds):
        for name, measure in measures.items():
            out[name].append(measure())
    return out


def median(values):
    return statistics.median(values)


def run_child(name, payload, *, env=None, pythonpath=(), timeout=None):
    """Run ``children/<name>.py`` in a new process with ``payload`` (JSON) and return its last ``RESULT``.

    ``pythonpath`` goes first on the child's path (a commit's exported package, say); the harness's
    folder follows, so children import ``_common`` too. A child prints ``RESULT {json}`` after each
    part it finishes, so a time-out keeps what it had measured (the dict then has ``"stopped"``).
    """
    path = os.pathsep.join([*map(str, pythonpath), str(HERE), *filter(None, [os.environ.get("PYTHONPATH")])])
    environ = dict(os.environ if env is None else env, PYTHONPATH=path)
    cmd = [sys.executable, str(CHILDREN / f"{name}.py"), json.dumps(payload)]
    stopped = None
    try:
        p = subprocess.run(cmd, env=environ, capture_output=True, text=True, timeout=timeout)
        stdout, stderr, code = p.stdout, p.stderr, p.returncode
    except subprocess.TimeoutExpired as exc:
        stdout, stderr, code = exc.stdout or "", exc.stderr or "", None
        stdout = stdout.decode() if isinstance(stdout, bytes) else stdout
        stderr = stderr.decode() if isinstance(stderr, bytes) else stderr
        stopped = f"stopped after {timeout:.0f} s"
    lines = [x for x in stdout.splitlines() if x.startswith("RESULT ")]
    if not lines or code:
        last = (stderr.strip() or stdout.strip() or f"exit {code}").splitlines()[-1][:300]
        if not lines:
            raise RuntimeError(f"{name}: {stopped or f'exit {code}'}: {last}\n{stderr[-3000:]}")
        stopped = stopped or f"failed (exit {code}): {last}"
    result = json.loads(lines[-1][len("RESULT ") :])
    if stopped:
        result["stopped"] = stopped
    return result


def child_result(out):
    """What a child prints for :func:`run_child` (call it after each part: the last line counts)."""
    print("RESULT " + json.dumps(out), flush=True)


def new_process_runs(name, payload, runs, **kwargs):
    """:func:`run_child` ``runs`` times, each in a new process (start-up and first-call timings)."""
    return [run_child(name, payload, **kwargs) for _ in range(runs)]


# --------------------------------------------------------------------------------------------
# The machine


def cores():
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def cpu_model():
    from skcatdog._cpu import cpu_model as model  # the package's reading of /proc/cpuinfo

    return model()


def cpu_flags():
    """The CPU features that decide the fastest runtime: AMX and AVX-512 (bf16 among them)."""
    from skcatdog._cpu import cpu_field

    try:
        flags = (cpu_field("/proc/cpuinfo", "flags") or "").split()
    except OSError:
        return "unknown"
    return " ".join(sorted(f for f in flags if f.startswith(("amx", "avx512_bf16", "avx512f")))) or "none"


def gpu_model():
    """The first CUDA GPU's name and memory, or ``None`` (asks nvidia-smi; imports no framework)."""
    import shutil

    if shutil.which("nvidia-smi") is None:
        return None
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,memory.total", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=20,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip().splitlines()[0] if out.returncode == 0 and out.stdout.strip() else None


def machine_line(backends=None):
    """CPU model, cores and AMX/AVX-512 flags, the GPU if any, and ``backends`` (a string) if given."""
    line = f"CPU {cpu_model()} ({cores()} cores; {cpu_flags()}); GPU {gpu_model() or 'none'}"
    return f"{line}; {backends}" if backends else line


def versions(*packages):
    """``"name X.Y, ..."`` of installed distributions (``"not installed"`` for the others)."""
    from importlib.metadata import PackageNotFoundError, version

    def one(name):
        try:
            return version(name)
        except PackageNotFoundError:
            return "not installed"

    return ", ".join(f"{name} {one(name)}" for name in packages)


def software():
    """Python and Keras (with its backend) versions: part of a speed table's machine line."""
    import platform

    import keras

    return f"Python {platform.python_version()}, Keras {keras.__version__} on {keras.backend.backend()}"


# --------------------------------------------------------------------------------------------
# Simulated embeddings


def copy_at_distance(row, max_distance, rng):
    """A copy of ``row`` (same length) at a cosine distance drawn from 0.1 to 0.9 of ``max_distance``:
    ``row`` turned towards a random orthogonal direction."""
    import numpy as np

    u = row.astype(np.float64)
    length = np.linalg.norm(u)
    u /= length
    v = rng.standard_normal(len(u))
    v -= (v @ u) * u
    v /= np.linalg.norm(v)
    cos = 1.0 - rng.uniform(0.1, 0.9) * max_distance
    return (length * (cos * u + np.sqrt(1 - cos * cos) * v)).astype(np.float32)


# --------------------------------------------------------------------------------------------
# Results


def _command():
    script = Path(sys.argv[0]).resolve()
    try:
        script = script.relative_to(ROOT)
    except ValueError:
        pass
    args = [a for a in sys.argv[1:]]
    return " ".join(["python", str(script), *args])


def _existing_meta(path):
    meta = {}
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.startswith("#"):
                key, _, value = line[1:].partition(":")
                meta[key.strip()] = value.strip()
    return meta


def write_result(name, header, rows, *, title, what, out=RESULTS, order=None, note=None, machine=None, printed=True):
    """Write ``<out>/<name>.csv`` as ``benchmarks/results/README.md`` defines it, and print the table.

    The ``# key: value`` lines: ``order`` (its place on the performance page; kept from the file
    being replaced when not given), ``title``, ``what``, ``machine`` (:func:`machine_line` unless
    given), ``command`` (this process's command line) and ``note`` (kept from the file being
    replaced when not given: a rerun should check that the note still holds). Returns the path.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.csv"
    old = _existing_meta(path)
    meta = {
        "order": order if order is not None else old.get("order", 99),
        "title": title,
        "what": what,
        "machine": machine or machine_line(),
        "command": _command(),
        "note": note if note is not None else old.get("note"),
    }
    rows = [[_cell(c) for c in row] for row in rows]
    text = io.StringIO()
    for key, value in meta.items():
        if value not in (None, ""):
            text.write(f"# {key}: {' '.join(str(value).split())}\n")
    csv.writer(text, lineterminator="\n").writerows([list(header), *rows])
    path.write_text(text.getvalue(), encoding="utf-8")
    if printed:
        print_table(header, rows, title=f"{title}\n{meta['machine']}")
        print(f"written to {path}")
    return path


def fmt(value):
    """A number as a table shows it: 4 significant digits below 1,000, whole numbers with commas above."""
    return _cell(float(value))


def _cell(value):
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1000 else f"{value:,.0f}"
    return "" if value is None else str(value)


def print_table(header, rows, *, title=None):
    """A Markdown table on stdout, headed by ``title``."""
    if title:
        print(f"\n{title}\n")
    print("| " + " | ".join(map(str, header)) + " |")
    print("|---|" + "---:|" * (len(header) - 1))
    for row in rows:
        print("| " + " | ".join(_cell(c) for c in row) + " |")
    print()


# --------------------------------------------------------------------------------------------
# The package's optional runtimes


def runtimes():
    """The package's runtime modules the benchmarks drive directly, imported here only.

    Returns a namespace with ``openvino`` (the module with ``available()``, ``ID`` and ``Forward``)
    and ``openvino_forward(model, spec, precision)``, the OpenVINO forward pass built as the engine
    builds it (its converted model kept where the engine keeps it).
    """
    from types import SimpleNamespace

    from skcatdog import _engine
    from skcatdog._runtimes import openvino
    from skcatdog._store import default_cache_dir

    def openvino_forward(model, spec, precision="bfloat16"):
        name = _engine.fingerprint(spec, "imagenet", "bfloat16")
        return openvino.Forward(
            model, spec, precision=precision, name=name, directory=default_cache_dir() / openvino.ID
        )

    return SimpleNamespace(openvino=openvino, openvino_forward=openvino_forward)
