"""find_issues on photos with planted problems, against the peers where installed.

    python benchmarks/bench_audit.py [--data FOLDER] [--limit 3000] [--backbone efficientnet_lite2] [--random 100000]

Plants, into the training photos (with the known junk photos in ``outliers/``
beside the photo folder added):

* 30 label flips, 15 each way;
* 60 near copies of other photos: re-encoded (JPEG quality 60), halved, cropped
  to 90%, brightened, 15 of each.

Then runs ``find_issues`` twice (the second call must forward nothing), and
cleanlab's ``find_label_issues`` on the same out-of-fold probabilities where
cleanlab is installed; then a near-copy search over ``--random`` random
embeddings (time and peak memory). Prints recall, flags and time with the
machine line, and writes ``audit.csv``.
"""

import os
import resource
import tempfile
import time
from pathlib import Path

import _common as bench

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
from PIL import Image, ImageEnhance  # noqa: E402

from skcatdog import _engine, find_issues, load_image_folder  # noqa: E402
from skcatdog.audit import duplicates  # noqa: E402

EDITS = ("reencode", "half", "crop", "brighten")


def plant_copies(paths, labels, folder, rng, n=60):
    """Near copies of ``n`` photos, ``n // 4`` per edit; returns their paths, labels and originals."""
    picks = rng.choice(len(paths), n, replace=False)
    out, out_labels, originals = [], [], []
    for k, i in enumerate(picks):
        edit = EDITS[k % len(EDITS)]
        img = Image.open(paths[i]).convert("RGB")
        w, h = img.size
        if edit == "half":
            img = img.resize((max(1, w // 2), max(1, h // 2)), Image.BILINEAR)
        elif edit == "crop":
            img = img.crop((int(w * 0.05), int(h * 0.05), int(w * 0.95), int(h * 0.95)))
        elif edit == "brighten":
            img = ImageEnhance.Brightness(img).enhance(1.3)
        path = folder / f"copy-{k}-{edit}.jpg"
        img.save(path, "JPEG", quality=60 if edit == "reencode" else 90)
        out.append(str(path))
        out_labels.append(labels[i])
        originals.append(int(i))
    return out, out_labels, originals


def main():
    ap = bench.parser(__doc__)
    ap.add_argument("--limit", type=int, default=3000)
    ap.add_argument("--backbone", default="efficientnet_lite2")
    ap.add_argument("--random", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--precision", default="auto")
    opts = ap.parse_args()
    rng = np.random.default_rng(opts.seed)
    data = bench.data_folder(opts.data)
    paths, labels = load_image_folder(data)
    keep = rng.permutation(len(paths))[: opts.limit]
    paths, labels = list(paths[keep]), list(labels[keep])
    junk, junk_labels = load_image_folder(bench.outliers_folder(data))
    junk_set = {str(p) for p in junk}
    folder = Path(tempfile.mkdtemp(prefix="bench-audit-"))
    copies, copy_labels, originals = plant_copies(paths, labels, folder, rng)
    X = paths + [str(p) for p in junk] + copies
    truth = labels + list(junk_labels) + copy_labels
    y = np.array(truth, dtype=object)
    flips = []
    for cls, other in (("cat", "dog"), ("dog", "cat")):
        rows = [i for i in range(len(paths)) if truth[i] == cls and i not in set(originals)]
        for i in rng.choice(rows, 15, replace=False):
            y[i] = other
            flips.append(int(i))
    y = y.astype(str)

    _engine.stats.reset()
    t = time.perf_counter()
    issues = find_issues(X, y, backbone=opts.backbone, precision=opts.precision)
    first = time.perf_counter() - t
    forwarded_first = _engine.stats.images_forwarded
    _engine.stats.reset()
    t = time.perf_counter()
    again = find_issues(X, y, backbone=opts.backbone, precision=opts.precision)
    second = time.perf_counter() - t
    assert again.equals(issues)
    n = len(X)
    label_rows = issues[issues.issue == "label_error"]
    found_flips = sum(1 for i in flips if ((label_rows.item == X[i]) & (label_rows.suggested_label == truth[i])).any())
    flagged_junk = issues[issues.item.isin(junk_set) & issues.issue.isin(["off_topic", "label_error"])]
    junk_off_topic = issues[issues.item.isin(junk_set) & (issues.issue == "off_topic")].item.nunique()
    near = issues[issues.issue.isin(["near_duplicate", "exact_duplicate"])]
    group_of = dict(zip(near.item, near.group, strict=True))
    found_copies = sum(
        1 for c, o in zip(copies, originals, strict=True) if c in group_of and group_of.get(paths[o]) == group_of[c]
    )
    near_groups = near.group.nunique()
    planted_groups = {group_of[c] for c in copies if c in group_of}
    other_groups = sorted(set(near.group) - planted_groups)
    cleanlab_line = "cleanlab: not installed"
    try:
        from cleanlab.filter import find_label_issues

        from skcatdog.audit import labels as audit_labels

        emb = _engine.embed_many(
            X, opts.backbone, views=("crop", "full"), mean_views=True, outputs=("embeddings",), precision=opts.precision
        )
        classes, proba = audit_labels.out_of_fold_proba(emb[0].embeddings, y)
        mask = find_label_issues(np.searchsorted(classes, y), proba)
        cleanlab_line = (
            f"cleanlab find_label_issues: {sum(mask[i] for i in flips)}/30 flips, {mask.sum()} flagged "
            f"({mask.sum() / n:.2%})"
        )
    except ImportError:
        pass

    # Near-copy search over many random embeddings: time and peak memory, no n x n matrix.
    random = np.random.default_rng(1).standard_normal((opts.random, 1280)).astype(np.float32)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t = time.perf_counter()
    pairs = duplicates.near_pairs(random, max_distance=0.1)
    search = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    rows = [
        ("photos", n, ""),
        ("label flips found as label_error with the right suggested label", f"{found_flips}/30", ""),
        ("label_error flagged", len(label_rows), f"{len(label_rows) / n:.2%} of photos"),
        ("known junk flagged (off_topic or label_error)", f"{flagged_junk.item.nunique()}/{len(junk_set)}", ""),
        ("known junk reported as off_topic", f"{junk_off_topic}/{flagged_junk.item.nunique()}", ""),
        ("off_topic flagged", (issues.issue == "off_topic").sum(), f"{(issues.issue == 'off_topic').sum() / n:.2%}"),
        ("planted near copies found in their original's set", f"{found_copies}/{len(copies)}", ""),
        ("sets of copies reported", near_groups, f"{len(other_groups)} not planted: {other_groups[:12]}"),
        ("first call (s)", f"{first:.1f}", f"{forwarded_first} views forwarded"),
        ("second call (s)", f"{second:.1f}", f"{_engine.stats.images_forwarded} views forwarded"),
        (f"near-copy search, {opts.random:,} random embeddings (s)", f"{search:.1f}", f"{len(pairs)} pairs"),
        ("peak memory (MB)", f"{peak / 1024:.0f}", f"{(peak - before) / 1024:.0f} MB more during the search"),
    ]
    bench.write_result(
        "audit",
        ["measure", "value", "note"],
        rows,
        title="Dataset audit: planted problems found",
        what=(
            f"find_issues ({opts.backbone}) on {len(paths):,} photos with 30 label flips, {len(copies)} near copies "
            f"and "
            f"{len(junk_set)} junk photos"
        ),
        out=opts.out,
        order=20,
    )
    print(cleanlab_line)
    for g in other_groups:
        print(g, list(near[near.group == g].item))


if __name__ == "__main__":
    main()
