"""The engine's figures for two commits, side by side: each measure alternates
between the commits' packages in fresh processes, so drift hits both alike.

    python benchmarks/bench_commits.py BASE [HEAD] [--limit 3000] [--rounds 3] [--backbone efficientnet_lite0]

Measures (the warm ones on a cache per commit, each filled first by its own
commit, so commits whose stores differ in layout compare too; the script checks
that no warm call forwards a photo):

* new process: one ``transform`` of the photos (default two views, mean);
* repeated: the third identical call in that process;
* GridSearchCV over C on paths, against the same search on features;
* cold: ``transform`` of photos not cached, against the bare forward of the
  same runtime timed on either side of it.

Prints a table of medians and HEAD/BASE ratios with the CPU model, and writes
it to ``benchmarks/results/commits.csv`` (``--out`` for another folder).
"""

import subprocess
import tempfile
from pathlib import Path

import _common as bench


def export(rev, dest):
    dest.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "-C", str(bench.ROOT), "archive", rev, "skcatdog"], check=True, capture_output=True
    )
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)


def run(code_dir, args):
    result = bench.run_child("commits_probe", args, pythonpath=[code_dir])
    if "stopped" in result:
        raise RuntimeError(f"{code_dir}: {result['stopped']}")
    return result


def main():
    ap = bench.parser(__doc__)
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
    common = {
        "data": str(bench.data_folder(opts.data)),
        "limit": opts.limit,
        "backbone": opts.backbone,
    }
    caches = {name: str(tmp / f"cache-{name}") for name in revs}
    only = set(opts.only or ["warm", "grid", "cold"])
    filled = {"forwarded": 0}
    if only & {"warm", "grid"}:
        for name in revs:
            filled["forwarded"] += run(dirs[name], dict(common, what="fill", cache=caches[name]))["forwarded"]
    results = {name: {} for name in revs}
    for r in range(opts.rounds):
        order = ("base", "head") if r % 2 == 0 else ("head", "base")
        for name in order:
            for what in [w for w in ("warm", "grid") if w in only]:
                got = run(dirs[name], dict(common, what=what, cache=caches[name]))
                for k, v in got.items():
                    results[name].setdefault(k, []).append(v)
            if "cold" not in only:
                continue
            cold = dict(
                common,
                what="cold",
                cache=caches[name],
                cold_cache=str(tmp / f"cold-{name}-{r}"),
                offset=(r * 2 + (name == "head")) * opts.n_cold % max(1, opts.limit - opts.n_cold),
                n_cold=opts.n_cold,
            )
            for k, v in run(dirs[name], cold).items():
                results[name].setdefault(k, []).append(v)
    forwarded = sum(results["base"].get("forwarded", [])) + sum(results["head"].get("forwarded", []))
    rows = []
    for key, label in [
        ("new_process", "warm, new process (photos/s)"),
        ("repeated", "warm, repeated call (photos/s)"),
        ("grid_ratio", "GridSearchCV paths / features (time)"),
        ("cold_ratio", "cold transform / bare forward"),
    ]:
        if key not in results["base"]:
            continue
        b, h = bench.median(results["base"][key]), bench.median(results["head"][key])
        rows.append(
            [
                label,
                f"{b:,.2f}",
                f"{h:,.2f}",
                f"{h / b:.2f}",
                " ".join(map(bench.fmt, results["base"][key])),
                " ".join(map(bench.fmt, results["head"][key])),
            ]
        )
    bench.write_result(
        "commits",
        ["measure", "base (median)", "head (median)", "head / base", "base rounds", "head rounds"],
        rows,
        title=f"{opts.base} (base) against {opts.head} (head)",
        what=(
            f"{opts.limit} photos, {opts.backbone}, {opts.rounds} rounds alternating between the commits in new "
            f"processes; the fill forwarded {filled['forwarded']} views, the warm calls {forwarded} (0: the same rows)"
        ),
        out=opts.out,
        order=90,
    )


if __name__ == "__main__":
    main()
