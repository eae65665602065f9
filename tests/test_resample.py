"""Pillow's bilinear resize as batched matrix products: the same pixels as Pillow, in any batch."""

import array_api_compat.numpy as xp
import numpy as np
import pytest
from PIL import Image

from skcatdog._engine.resample import groups_within, resize_batch, vertical_first


def _pillow(pixels, size):
    return np.asarray(Image.fromarray(pixels).resize((size, size), Image.BILINEAR))


@pytest.mark.parametrize(
    "shapes",
    [
        [(375, 500), (500, 375), (40, 30), (260, 260)],  # landscape, portrait (vertical pass first), up, same size
        [(1000, 90), (90, 1000), (261, 700), (7, 3)],  # extreme aspect ratios, a width already at size
        [(517, 389), (300, 1200), (1, 1)],
    ],
)
@pytest.mark.parametrize("size", [260, 64])
def test_a_padded_batch_resizes_to_pillows_pixels_exactly(shapes, size):
    rng = np.random.default_rng(size)
    images = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in shapes]
    # Smooth areas make Pillow's fixed-point sums land exactly on .5: the rounding must match there too.
    images[0][:, :, :] = images[0][:1, :1, :]
    height, width = max(h for h, _ in shapes), max(w for _, w in shapes)
    batch = np.full((len(shapes), height + 3, width + 5, 3), 255, np.uint8)  # padding is never read
    for k, img in enumerate(images):
        batch[k, : img.shape[0], : img.shape[1]] = img
    out = resize_batch(batch, [h for h, _ in shapes], [w for _, w in shapes], size, xp, xp.float64)
    for k, img in enumerate(images):
        np.testing.assert_array_equal(out[k], _pillow(img, size), err_msg=str(shapes[k]))


def test_the_pass_order_is_pillows():
    # The probe found which order the installed Pillow uses; a portrait photo then decides it.
    assert vertical_first(500, 292, 224) in (True, False)
    assert not vertical_first(292, 500, 224)
    assert not vertical_first(100, 100, 224)  # enlarged: always horizontal first


def test_groups_keep_each_padded_batch_within_the_budget():
    shapes = [(500, 375)] * 10 + [(4000, 3000)] + [(30, 40)] * 5
    groups = groups_within(shapes, 2_000_000)
    assert sorted(i for g in groups for i in g) == list(range(len(shapes)))
    for g in groups:
        h, w = max(shapes[i][0] for i in g), max(shapes[i][1] for i in g)
        assert len(g) == 1 or len(g) * h * w <= 2_000_000
    assert [10] in groups  # the large photo pads no other
