"""Active learning for a rare class on the shared Dogs vs Cats photos.

The protocol: dogs are made rare (10% of the pool and of a held-out
set, by subsampling dogs), the learner starts from 30 labelled pool photos and
runs 5 rounds of 100 queries.  After each round it reports, for each query
strategy, averaged over seeds:

* precision@50 on the held-out set (rank it by P(dog); the base rate is 10%),
* the held-out log-loss,
* how many dogs the queries have found so far (the initial 30 not counted).

The label savings: for each seed, the labels entropy sampling needs for its
held-out log-loss to reach the one random sampling ends with (30 + 500
labels).  Measured on a finer run of entropy sampling (batches of 10, stopped
at the first fit at or below the target) and, for comparison, by linear
interpolation over the 100-query rounds.

Per seed: cats are split 1000 pool / 500 held-out; dogs are drawn at random
without replacement, 111 for the pool (10.0% of 1111) and 56 for the held-out
set (10.1% of 556).  The 30 initial pool photos are a uniform random draw,
redrawn until they hold at least one dog and one cat (a classifier needs both;
this is the uniform draw conditioned on that), shared by every strategy of the
seed.  The classifier is ``LogisticRegression(C=1.0, max_iter=1000)``, the
README example's, on the frozen embeddings, which are computed once (from the cache when
warm); everything after is scikit-learn.

    python benchmarks/bench_active.py [--data FOLDER] [--seeds 10] [--backbone efficientnet_lite2]
"""

import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import _common as bench
import numpy as np  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.metrics import log_loss  # noqa: E402

from skcatdog import KerasEmbeddingTransformer  # noqa: E402
from skcatdog.active import active_learning_loop, precision_at_k  # noqa: E402

RARE, COMMON = "dog", "cat"


def split(labels, seed, n_pool_common=1000, n_test_common=500, rare_rate=0.10):
    """Pool and held-out indices with the rare class at ``rare_rate`` in each."""
    rng = np.random.default_rng(seed)
    common = rng.permutation(np.flatnonzero(labels == COMMON))
    rare = rng.permutation(np.flatnonzero(labels == RARE))
    per_common = rare_rate / (1 - rare_rate)
    n_pool_rare, n_test_rare = round(n_pool_common * per_common), round(n_test_common * per_common)
    pool = np.concatenate([common[:n_pool_common], rare[:n_pool_rare]])
    test = np.concatenate(
        [common[n_pool_common : n_pool_common + n_test_common], rare[n_pool_rare : n_pool_rare + n_test_rare]]
    )
    return rng.permutation(pool), rng.permutation(test)


def initial_draw(y_pool, n, seed):
    """A uniform random draw of ``n`` pool indices, redrawn until both classes are in it."""
    rng = np.random.default_rng([seed, 1])
    while True:
        idx = rng.choice(y_pool.size, size=n, replace=False)
        if np.unique(y_pool[idx]).size == 2:
            return idx


def run(X_pool, y_pool, X_test, y_test, initial, strategy, n_rounds, batch_size, seed, C, stop_at=None):
    """One active-learning run; per fit: labels, precision@50, held-out log-loss, rare found by queries."""
    rows, found = [], [0]

    def evaluate(record, clf):
        if record["round"] > 0:
            found[0] += int(np.sum(record["labels"] == RARE))
        proba = clf.predict_proba(X_test)
        loss = log_loss(y_test, proba, labels=clf.classes_)
        p50 = precision_at_k(y_test, proba[:, list(clf.classes_).index(RARE)], 50, pos_label=RARE)
        rows.append((record["n_labelled"], p50, loss, found[0]))
        return stop_at is not None and loss <= stop_at

    result = active_learning_loop(
        LogisticRegression(C=C, max_iter=1000),
        X_pool,
        lambda idx: y_pool[idx],
        initial=initial,
        n_rounds=n_rounds,
        batch_size=batch_size,
        strategy=strategy,
        random_state=seed,
        callback=evaluate,
    )
    return np.array(rows, dtype=float), [np.sort(r["queried"]) for r in result.history]


def crossing(curve, target):
    """Labels at which a (labels, log-loss) curve first reaches ``target``, linearly interpolated; inf if never."""
    n, loss = curve[:, 0], curve[:, 2]
    hit = np.flatnonzero(loss <= target)
    if hit.size == 0:
        return np.inf
    i = hit[0]
    if i == 0:
        return n[0]
    return n[i - 1] + (loss[i - 1] - target) / (loss[i - 1] - loss[i]) * (n[i] - n[i - 1])


def main():
    parser = bench.parser(__doc__)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--backbone", default="efficientnet_lite2")
    parser.add_argument(
        "--strategies", default="entropy,margin,random", help="comma-separated; least_confidence is also known"
    )
    parser.add_argument("--initial", type=int, default=30)
    parser.add_argument("--pool", type=int, default=1000, help="cats in the pool (half as many held out)")
    parser.add_argument("--limit", type=int, default=None, help="use only N photos, spread over the classes")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--fine-batch", type=int, default=10, help="batch of the finer entropy run for the savings")
    parser.add_argument("--C", type=float, default=1.0)
    args = parser.parse_args()
    strategies = args.strategies.split(",")
    if "random" not in strategies or "entropy" not in strategies:
        parser.error("--strategies must include entropy and random (the savings compare them)")

    start = time.perf_counter()
    paths, labels = bench.load_photos(bench.data_folder(args.data), args.limit)
    X = KerasEmbeddingTransformer(backbone=args.backbone).transform(paths)
    embed_s = time.perf_counter() - start

    curves = {s: [] for s in strategies}
    same_queries = {s: 0 for s in strategies}
    savings_fine, savings_coarse, targets, full_losses, base_rates, initial_rare = [], [], [], [], [], []
    for seed in range(args.seeds):
        pool, test = split(labels, seed, args.pool, args.pool // 2)
        X_pool, y_pool, X_test, y_test = X[pool], labels[pool], X[test], labels[test]
        base_rates.append(np.mean(y_test == RARE))
        initial = initial_draw(y_pool, args.initial, seed)
        initial_rare.append(np.sum(y_pool[initial] == RARE))
        order = {}
        for s in strategies:
            curve, order[s] = run(X_pool, y_pool, X_test, y_test, initial, s, args.rounds, args.batch, seed, args.C)
            curves[s].append(curve)
        for s in strategies:
            same_queries[s] += len(order[s]) == len(order["entropy"]) and all(
                np.array_equal(a, b) for a, b in zip(order[s], order["entropy"], strict=True)
            )
        target = curves["random"][-1][-1, 2]
        n_final = curves["random"][-1][-1, 0]
        n_rounds = int((n_final - args.initial) // args.fine_batch)
        fine, _ = run(
            X_pool, y_pool, X_test, y_test, initial, "entropy", n_rounds, args.fine_batch, seed, args.C, stop_at=target
        )
        targets.append(target)
        savings_fine.append(crossing(fine, target))
        savings_coarse.append(crossing(curves["entropy"][-1], target))
        full = LogisticRegression(C=args.C, max_iter=1000).fit(X_pool, y_pool)
        full_losses.append(log_loss(y_test, full.predict_proba(X_test), labels=full.classes_))
        print(
            f"seed {seed}: random's final log-loss {target:.4f}; entropy reaches it at "
            f"{savings_fine[-1]:.0f} labels (batches of {args.fine_batch})",
            file=sys.stderr,
            flush=True,
        )

    mean = {s: np.mean(curves[s], axis=0) for s in strategies}
    n_pool, n_test = len(pool), len(test)
    names = {"entropy": "entropy", "margin": "margin", "least_confidence": "least-conf.", "random": "random"}
    heads = [f"{what} {names[s]}" for what in ("P@50", "log-loss", "dogs found") for s in strategies]
    rows = []
    for r in range(mean["random"].shape[0]):
        cells = [f"{mean[s][r, 1]:.3f}" for s in strategies]
        cells += [f"{mean[s][r, 2]:.4f}" for s in strategies]
        cells += [f"{mean[s][r, 3]:.1f}" for s in strategies]
        rows.append([f"{mean['random'][r, 0]:.0f}", *cells])
    fine, coarse = np.array(savings_fine), np.array(savings_coarse)
    n_final = mean["random"][-1, 0]
    note = (
        f"Random sampling ends at log-loss {np.mean(targets):.4f} with {n_final:.0f} labels; entropy sampling reaches "
        f"each seed's final random value with {np.mean(fine):.0f} labels on average (median {np.median(fine):.0f}, "
        f"range {fine.min():.0f}-{fine.max():.0f}, measured with batches of {args.fine_batch}): "
        f"{n_final / np.mean(fine):.1f} times fewer labels ({np.mean(coarse):.0f} interpolated over the "
        f"{args.batch}-query rounds). Every {n_pool}-photo pool labelled: log-loss {np.mean(full_losses):.4f}."
    )
    same = [
        f"{names[s]} queried the same photos as entropy in {same_queries[s]} of {args.seeds} seeds"
        for s in strategies
        if s not in ("entropy", "random")
    ]
    if same:
        note += " " + "; ".join(same) + " (for two classes they rank by |p - 0.5| alike)."
    bench.write_result(
        "active",
        ["labels", *heads],
        rows,
        title="Active learning: finding a rare class",
        what=(
            f"Dogs made rare ({np.mean(base_rates):.0%} of a {n_pool:,}-photo pool and of a {n_test}-photo held-out "
            f"set); {args.initial} random initial labels ({np.mean(initial_rare):.1f} dogs on average), then "
            f"{args.rounds} rounds of {args.batch} queries; {args.backbone} + LogisticRegression(C={args.C:g}); mean "
            f"of {args.seeds} seeds. Precision@50 and log-loss on the held-out set; dogs found among the queries."
        ),
        note=note,
        out=args.out,
    )
    print(f"wall time {time.perf_counter() - start:.0f} s (embeddings {embed_s:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
