"""The shipped ImageNet class index."""

import numpy as np
import pytest

from skcatdog.imagenet import class_names, decode_predictions, wnids


def test_index_is_the_standard_sorted_wordnet_order():
    ids = wnids()
    assert len(ids) == 1000 and ids == sorted(ids) and len(set(ids)) == 1000
    assert ids[285] == "n02124075" and class_names()[285] == "Egyptian cat"
    assert ids[151] == "n02085620" and ids[268] == "n02113978"  # the dog block


def test_decode_predictions():
    logits = np.zeros((2, 1000))
    logits[0, 285] = 10
    logits[1, 151] = 10
    top = decode_predictions(logits, top=2)
    assert top[0][0][:2] == ("n02124075", "Egyptian cat") and top[0][0][2] > 0.9
    assert top[1][0][1] == "Chihuahua" and len(top[1]) == 2
    with pytest.raises(ValueError, match="1000"):
        decode_predictions(np.zeros((1, 10)))
