"""Generate ``skcatdog/data/imagenet_class_index.json`` offline.

Keras's ``decode_predictions`` downloads its class index at run time, which
fails offline, so skcatdog ships its own.  The 1000 ImageNet-1k WordNet ids
(sorted, which is the class order every ImageNet checkpoint uses) and their
lemmas come from the Apache-2.0 ``timm`` wheel on PyPI::

    pip download --no-deps -d /tmp/timm timm
    python tools/make_imagenet_index.py /tmp/timm/timm-*.whl

The output matches Keras's layout: ``{"0": ["n01440764", "tench"], ...}``,
plus the full lemma list as a third element.
"""

import json
import sys
import zipfile
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "skcatdog" / "data" / "imagenet_class_index.json"


def main(wheel):
    with zipfile.ZipFile(wheel) as z:
        synsets = z.read("timm/data/_info/imagenet_synsets.txt").decode().split()
        lemma_lines = z.read("timm/data/_info/imagenet_synset_to_lemma.txt").decode().splitlines()
    lemmas = dict(line.split("\t", 1) for line in lemma_lines if "\t" in line)
    if len(synsets) != 1000 or synsets != sorted(synsets):
        raise SystemExit("expected 1000 sorted ImageNet-1k synsets")
    index = {}
    for i, wnid in enumerate(synsets):
        names = [n.strip() for n in lemmas[wnid].split(",")]
        index[str(i)] = [wnid, names[0], names]
    OUT.write_text(json.dumps(index, indent=0, ensure_ascii=False) + "\n")
    print(f"wrote {OUT} ({len(index)} classes)")


if __name__ == "__main__":
    main(sys.argv[1])
