"""
Embedding speed per runtime
===========================

How many photos a second each runtime embeds, from the benchmark result files
that ``python benchmarks/bench_embed.py`` (and, on a GPU machine,
``python benchmarks/bench_distributed.py --gpu``) produce. The figures are
EfficientNet-Lite2's forward pass; each panel names the machine it was measured
on. Compare bars within a panel, not across panels or machines.
"""

# %%
# Reading the result files
# ------------------------
# Each file in ``benchmarks/results/`` is a CSV table preceded by
# ``# key: value`` lines that say what was measured, on which machine and with
# which command.
import csv
import re
import textwrap
from pathlib import Path

import matplotlib.pyplot as plt


def read_result(name):
    """``(meta, header, rows)`` of a benchmark result file, or None if it is not there."""
    for folder in (Path("benchmarks/results"), Path("../benchmarks/results")):
        path = folder / name
        if path.is_file():
            break
    else:
        print(f"{name} not found: run this example from the repository or its examples/ folder")
        return None
    meta, body = {}, []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            key, _, value = line[1:].partition(":")
            meta[key.strip()] = value.strip()
        elif line.strip():
            body.append(line)
    header, *rows = csv.reader(body)
    return meta, header, rows


def number(cell):
    """The first number in a table cell (``"**53.2**"`` -> 53.2, ``"6,166 (1.37x)"`` -> 6166.0)."""
    found = re.search(r"\d[\d,]*(\.\d+)?", cell)
    return float(found.group(0).replace(",", "")) if found else None


def label(cell):
    return re.sub(r"\*\*|``", "", cell)


panels = []
cpu = read_result("embed_runtimes.csv")
if cpu is not None:
    meta, header, rows = cpu
    panels.append(("CPU runtimes, bare forward pass", meta["machine"], [(label(r[0]), number(r[1])) for r in rows]))
gpu = read_result("gpu_h200.csv")
if gpu is not None:
    meta, header, rows = gpu
    panels.append(("GPU", meta["machine"], [(label(r[0]), number(r[1])) for r in rows]))

# %%
# The bars
# --------
# On a CPU the forward pass is the cost. In float32 the runtimes run the same
# network within a few percent of each other; bfloat16, on CPUs with bf16
# instructions, runs it about twice as fast. On a GPU the forward pass is cheap
# and decoding the JPEG files on the CPU sets the pace.
fig, axes = plt.subplots(len(panels) or 1, 1, figsize=(9, 2.2 + 0.55 * sum(len(p[2]) for p in panels)), squeeze=False)
for ax, (title, machine, bars) in zip(axes[:, 0], panels, strict=False):
    names = [name for name, _ in bars][::-1]
    values = [value for _, value in bars][::-1]
    colours = ["tab:orange" if "(the default" in name else "tab:blue" for name in names]
    ax.barh(names, values, color=colours)
    for y, value in enumerate(values):
        ax.text(value, y, f" {value:,.0f}" if value >= 100 else f" {value:.1f}", va="center", fontsize=9)
    ax.set_xlabel("images per second")
    # Narrow enough to stay over the axes: the bar labels take the figure's left half.
    ax.set_title(f"{title}\n" + textwrap.fill(machine, 44, break_on_hyphens=False), fontsize=10)
    ax.set_xlim(0, max(values) * 1.2)
if not panels:
    axes[0, 0].text(0.5, 0.5, "No benchmark results found: see the message above", ha="center", va="center")
    axes[0, 0].axis("off")
fig.tight_layout()
plt.show()
