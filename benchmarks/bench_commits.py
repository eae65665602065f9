"""The engine's figures for two commits, side by side: each measure alternates
between the commits' packages in fresh processes, so drift hits both alike.

    python benchmarks/bench_commits.py BASE [HEAD] [--limit 3000] [--rounds 3] [--backbone efficientnet_lite0]

Measures (the warm ones on one shared cache, filled first; both commits must
give rows the same keys, which the script checks by counting forward passes):

* new process: one ``transform`` of the photos (default two views, mean);
* repeated: the third identical call in that process;
* GridSearchCV over C on paths, against the same search on features;
* cold: ``transform`` of photos not cached, against the bare forward of the
  same runtime timed on either side of it.

Prints a table of medians and HEAD/BASE ratios with the CPU model, and writes
it to ``benchmarks/results/``.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from _machine import cores, cpu_model

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "dogs-vs-cats" / "train"

PROBE = r"""
import json, os, sys, time
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import numpy as np
from skcatdog import KerasEmbeddingTransformer, load_image_folder, _engine
args = json.loads(sys.argv[1])
paths, y = load_image_folder(args["data"])
paths, y = paths[: args["limit"]], y[: args["limit"]]
out = {}
est = KerasEmbeddingTransformer(backbone=args["backbone"], cache=args["cache"])
if args["what"] == "fill":
    est.transform(paths)
    out["forwarded"] = _engine.stats.images_forwarded
elif args["what"] == "warm":
    t = time.perf_counter(); est.transform(paths); out["new_process"] = len(paths) / (time.perf_counter() - t)
    est.transform(paths)
    t = time.perf_counter(); est.transform(paths); out["repeated"] = len(paths) / (time.perf_counter() - t)
    out["forwarded"] = _engine.stats.images_forwarded
elif args["what"] == "grid":
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import make_pipeline
    grid = {"logisticregression__C": [0.3, 1.0]}
    features = est.transform(paths)
    est.transform(paths)
    t = time.perf_counter()
    GridSearchCV(make_pipeline(LogisticRegression(max_iter=500)), grid, cv=5).fit(features, y)
    f = time.perf_counter() - t
    t = time.perf_counter()
    GridSearchCV(make_pipeline(est, LogisticRegression(max_iter=500)), grid, cv=5).fit(np.asarray(paths), y)
    out["grid_ratio"] = (time.perf_counter() - t) / f
elif args["what"] == "cold":
    from skcatdog._images import decode, read_source
    from skcatdog.backbones import get_backbone
    start = args["offset"]
    cold = paths[start : start + args["n_cold"]]
    size = get_backbone(args["backbone"]).input_size
    runner = _engine.get_runner(args["backbone"], "imagenet", "float32")
    batch = np.stack([decode(read_source(p), size, "crop") for p in cold[:64]])
    runner.forward(batch)
    def bare():
        t = time.perf_counter(); runner.forward(batch); return 64 / (time.perf_counter() - t)
    one = KerasEmbeddingTransformer(backbone=args["backbone"], cache=args["cold_cache"], views="crop")
    before = bare()
    t = time.perf_counter(); one.transform(cold); rate = len(cold) / (time.perf_counter() - t)
    after = bare()
    out["cold_ratio"] = rate / ((before + after) / 2)
print("RESULT " + json.dumps(out))
"""


def export(rev, dest):
    dest.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "skcatdog"], check=True, capture_output=True)
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)


def run(code_dir, args):
    env = dict(os.environ, PYTHONPATH=str(code_dir))
    p = subprocess.run([sys.executable, "-c", PROBE, json.dumps(args)], env=env, capture_output=True, text=True)
    line = [x for x in p.stdout.splitlines() if x.startswith("RESULT ")]
    if p.returncode or not line:
        raise RuntimeError(f"{code_dir}: {p.stderr[-2000:]}")
    return json.loads(line[0][7:])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("base")
    ap.add_argument("head", nargs="?", default="HEAD")
    ap.add_argument("--limit", type=int, default=3000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--n-cold", type=int, default=128)
    ap.add_argument("--backbone", default="efficientnet_lite0")
    ap.add_argument("--only", choices=["warm", "grid", "cold"], action="append", help="measures to run (default all)")
    opts = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-commits-"))
    revs = {"base": opts.base, "head": opts.head}
    dirs = {}
    for name, rev in revs.items():
        dirs[name] = tmp / name
        export(rev, dirs[name])
    common = {"data": str(DATA), "limit": opts.limit, "backbone": opts.backbone, "cache": str(tmp / "cache")}
    only = set(opts.only or ["warm", "grid", "cold"])
    filled = run(dirs["head"], dict(common, what="fill")) if only & {"warm", "grid"} else {"forwarded": 0}
    results = {name: {} for name in revs}
    for r in range(opts.rounds):
        order = ("base", "head") if r % 2 == 0 else ("head", "base")
        for name in order:
            for what in [w for w in ("warm", "grid") if w in only]:
                got = run(dirs[name], dict(common, what=what))
                for k, v in got.items():
                    results[name].setdefault(k, []).append(v)
            if "cold" not in only:
                continue
            cold = dict(
                common,
                what="cold",
                cold_cache=str(tmp / f"cold-{name}-{r}"),
                offset=(r * 2 + (name == "head")) * opts.n_cold % max(1, opts.limit - opts.n_cold),
                n_cold=opts.n_cold,
            )
            for k, v in run(dirs[name], cold).items():
                results[name].setdefault(k, []).append(v)
    forwarded = sum(results["base"].get("forwarded", [])) + sum(results["head"].get("forwarded", []))
    cpu = cpu_model()
    lines = [
        f"bench_commits: {opts.base} (base) vs {opts.head} (head), {opts.limit} photos, {opts.backbone}, "
        f"{opts.rounds} rounds; CPU {cpu}, {cores()} cores; fill forwarded {filled['forwarded']}, "
        f"warm calls forwarded {forwarded}",
        "",
        "| measure | base (median) | head (median) | head / base |",
        "|---|---:|---:|---:|",
    ]
    for key, label in [
        ("new_process", "warm, new process (photos/s)"),
        ("repeated", "warm, repeated call (photos/s)"),
        ("grid_ratio", "GridSearchCV paths / features (time)"),
        ("cold_ratio", "cold transform / bare forward"),
    ]:
        if key not in results["base"]:
            continue
        b, h = statistics.median(results["base"][key]), statistics.median(results["head"][key])
        lines.append(f"| {label} | {b:,.2f} | {h:,.2f} | {h / b:.2f} |")
    text = "\n".join(lines)
    print(text)
    out = ROOT / "benchmarks" / "results" / "bench_commits.txt"
    out.write_text(text + "\n\nraw: " + json.dumps(results) + "\n")
    print(f"\nwritten to {out}")


if __name__ == "__main__":
    main()
