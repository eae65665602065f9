"""Generate ``skcatdog/data/imagenet_hierarchy.json`` offline.

ImageNet ids are WordNet 3.0 noun offsets (``"n%08d" % offset``), so the
WordNet noun hierarchy tells which ImageNet classes lie below a synset such as
``n02084071`` (dog).  The data comes from Debian's ``wordnet-base`` package
(WordNet 3.0, under the WordNet license: Princeton University, permissive,
redistribution allowed with the copyright notice).  To regenerate::

    apt-get install wordnet-base
    python tools/make_imagenet_hierarchy.py [/usr/share/wordnet/data.noun]

The output is deterministic: ``{"classes": {class_wnid: [ancestor wnids,
sorted, including the class itself]}, "names": {wnid: "lemma, lemma"},
"source": ...}``, with hypernym (``@``) and instance-hypernym (``@i``) pointers
both counted as parent links.
"""

import json
import sys
from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / "skcatdog" / "data"
INDEX = DATA / "imagenet_class_index.json"
OUT = DATA / "imagenet_hierarchy.json"
SOURCE = "WordNet 3.0 (Debian wordnet-base)"
PARENT_POINTERS = {"@", "@i"}


def read_noun_synsets(path):
    """``({wnid: [parent wnids]}, {wnid: [lemmas]})`` from a WordNet ``data.noun``."""
    parents, lemmas = {}, {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.startswith("  "):  # the license header
                continue
            fields = line.split(" | ", 1)[0].split()
            wnid = "n" + fields[0]
            w_cnt = int(fields[3], 16)
            lemmas[wnid] = [w.replace("_", " ") for w in fields[4 : 4 + 2 * w_cnt : 2]]
            p_at = 4 + 2 * w_cnt
            pointers = fields[p_at + 1 : p_at + 1 + 4 * int(fields[p_at])]
            parents[wnid] = sorted(
                {"n" + pointers[i + 1] for i in range(0, len(pointers), 4) if pointers[i] in PARENT_POINTERS}
            )
    return parents, lemmas


def ancestors(wnid, parents):
    """All transitive hypernyms of ``wnid``, itself included."""
    seen, todo = set(), [wnid]
    while todo:
        node = todo.pop()
        if node not in seen:
            seen.add(node)
            todo.extend(parents[node])
    return sorted(seen)


def build(data_noun):
    parents, lemmas = read_noun_synsets(data_noun)
    class_wnids = sorted(entry[0] for entry in json.loads(INDEX.read_text(encoding="utf-8")).values())
    missing = [w for w in class_wnids if w not in parents]
    if len(class_wnids) != 1000 or missing:
        raise SystemExit(f"expected 1000 ImageNet wnids, all in {data_noun}; missing {missing[:5]}")
    classes = {w: ancestors(w, parents) for w in class_wnids}
    names = {w: ", ".join(lemmas[w][:2]) for w in sorted({a for anc in classes.values() for a in anc})}
    return {"classes": classes, "names": names, "source": SOURCE}


def dumps(hierarchy):
    """Compact JSON with one line per entry, so diffs stay readable."""

    def block(mapping):
        rows = [
            f"{json.dumps(k)}:{json.dumps(v, ensure_ascii=False, separators=(',', ':'))}" for k, v in mapping.items()
        ]
        return "{\n" + ",\n".join(rows) + "\n}"

    return (
        f'{{"classes":{block(hierarchy["classes"])},\n"names":{block(hierarchy["names"])},\n'
        f'"source":{json.dumps(hierarchy["source"])}}}\n'
    )


def main(data_noun="/usr/share/wordnet/data.noun", out=OUT):
    hierarchy = build(data_noun)
    Path(out).write_text(dumps(hierarchy), encoding="utf-8")
    print(f"wrote {out} ({len(hierarchy['classes'])} classes, {len(hierarchy['names'])} synsets)")


if __name__ == "__main__":
    main(*sys.argv[1:2])
