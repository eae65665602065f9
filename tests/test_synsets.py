"""The shipped WordNet hierarchy and the synset -> ImageNet class expansion."""

import importlib.util
import json
import re
from pathlib import Path

import numpy as np
import pytest

from skcatdog._synsets import BUILTIN_CLASS_SYNSETS, class_masks, imagenet_classes_below, synset_name
from skcatdog.imagenet import class_names, wnids

ROOT = Path(__file__).resolve().parents[1]
DATA_NOUN = Path("/usr/share/wordnet/data.noun")


def test_dog_synset_is_exactly_the_dog_block():
    below = imagenet_classes_below("n02084071")
    np.testing.assert_array_equal(below, np.arange(151, 269))
    assert synset_name("n02084071") == "dog, domestic dog"


def test_cat_synsets():
    domestic = imagenet_classes_below("n02121808")  # "domestic cat": tabby .. Egyptian cat
    np.testing.assert_array_equal(domestic, np.arange(281, 286))
    cats = imagenet_classes_below("n02121620")  # "cat, true cat": the domestic cats plus cougar and lynx
    np.testing.assert_array_equal(cats, np.arange(281, 288))
    assert class_names()[286] == "cougar" and class_names()[287] == "lynx"
    builtin = sorted(wnids().index(w) for w in BUILTIN_CLASS_SYNSETS["cat"])
    assert builtin == list(range(281, 288))
    # feline adds the big cats (leopard .. cheetah) on top of them
    np.testing.assert_array_equal(imagenet_classes_below("n02120997"), np.arange(281, 294))


def test_builtin_mapping():
    assert set(BUILTIN_CLASS_SYNSETS) == {"cat", "dog"}
    dogs = BUILTIN_CLASS_SYNSETS["dog"]
    assert len(dogs) == 118 and dogs[0] == "n02085620" and dogs[-1] == "n02113978"
    with pytest.raises(TypeError):
        BUILTIN_CLASS_SYNSETS["horse"] = ("n02374451",)


def test_leaf_and_root():
    np.testing.assert_array_equal(imagenet_classes_below("n07697537"), [934])
    # horse, the example in class_masks's error message, holds one ImageNet class: sorrel
    np.testing.assert_array_equal(imagenet_classes_below("n02374451"), [339])
    assert class_names()[934] == "hotdog"
    entity = imagenet_classes_below("n00001740")
    np.testing.assert_array_equal(entity, np.arange(1000))
    assert entity.dtype.kind == "i"
    entity[:] = -1  # the cached result must not be shared
    assert imagenet_classes_below("n00001740")[0] == 0


@pytest.mark.parametrize("wnid", ["02084071", "n0208407", "n020840711", "N02084071", 2084071, ["n02084071"]])
def test_malformed_wnid(wnid):
    with pytest.raises(ValueError, match=re.escape(repr(wnid))):
        imagenet_classes_below(wnid)


def test_unknown_wnid():
    # n12345678 is no synset; n02430045 (deer) is one but no ImageNet class lies below it
    for wnid in ["n12345678", "n02430045"]:
        with pytest.raises(ValueError, match=f"'{wnid}' is not a WordNet noun synset above any ImageNet class"):
            imagenet_classes_below(wnid)
        with pytest.raises(ValueError, match=wnid):
            synset_name(wnid)


def test_class_masks_builtin():
    masks = class_masks(["dog", "cat", "dog"])
    assert list(masks) == ["dog", "cat"]
    assert masks["dog"].dtype == bool and masks["dog"].shape == (1000,)
    np.testing.assert_array_equal(np.flatnonzero(masks["dog"]), np.arange(151, 269))
    np.testing.assert_array_equal(np.flatnonzero(masks["cat"]), np.arange(281, 288))


def test_class_masks_numpy_labels_keep_their_type():
    masks = class_masks(np.array(["cat", "dog", "cat"]))
    assert all(isinstance(k, np.str_) for k in masks) and set(masks) == {"cat", "dog"}
    masks = class_masks(np.array([0, 1]), {"0": "n02121620", "1": ["n02084071"]})
    assert all(isinstance(k, np.integer) for k in masks)
    assert masks[0].sum() == 7 and masks[1].sum() == 118


def test_class_masks_user_mapping_replaces_builtins():
    mapping = {"feline": ["n02121620", "n07697537"], "hound": "n02087551"}
    masks = class_masks(["feline", "hound"], mapping)
    np.testing.assert_array_equal(np.flatnonzero(masks["feline"]), [*range(281, 288), 934])
    np.testing.assert_array_equal(np.flatnonzero(masks["hound"]), np.arange(160, 179))
    with pytest.raises(ValueError, match=r"label\(s\) \['cat'\]; class_synsets maps \['feline', 'hound'\]"):
        class_masks(["cat"], mapping)


def test_class_masks_missing_label():
    with pytest.raises(ValueError, match=r"label\(s\) \['horse'\]; class_synsets maps \['cat', 'dog'\].*'horse'"):
        class_masks(np.array(["cat", "horse"]))
    with pytest.raises(ValueError, match=r"label\(s\) \[3\]"):
        class_masks([3], {"0": "n02121620"})


@pytest.mark.parametrize("value", [None, 2084071, ["n02084071", 3], []])
def test_class_masks_bad_mapping_value(value):
    with pytest.raises(ValueError, match="class_synsets\\['bad'\\]"):
        class_masks(["bad"], {"bad": value})


def test_class_masks_bad_wnid_in_mapping():
    with pytest.raises(ValueError, match="n02430045"):
        class_masks(["deer"], {"deer": "n02430045"})


def test_shipped_json_is_small_and_complete():
    path = ROOT / "skcatdog" / "data" / "imagenet_hierarchy.json"
    assert path.stat().st_size < 400_000
    hierarchy = json.loads(path.read_text(encoding="utf-8"))
    assert hierarchy["source"] == "WordNet 3.0 (Debian wordnet-base)"
    assert sorted(hierarchy["classes"]) == wnids()
    assert all(w in ancestors for w, ancestors in hierarchy["classes"].items())
    assert set(hierarchy["names"]) == {a for ancestors in hierarchy["classes"].values() for a in ancestors}


@pytest.mark.skipif(not DATA_NOUN.is_file(), reason=f"WordNet 3.0 is not at {DATA_NOUN} (apt-get install wordnet-base)")
def test_json_regenerates_identically(tmp_path):
    tool_path = ROOT / "tools" / "make_imagenet_hierarchy.py"
    spec = importlib.util.spec_from_file_location("make_imagenet_hierarchy", tool_path)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    out = tmp_path / "imagenet_hierarchy.json"
    tool.main(str(DATA_NOUN), out)
    assert out.read_bytes() == (ROOT / "skcatdog" / "data" / "imagenet_hierarchy.json").read_bytes()
