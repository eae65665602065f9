"""Pillow's antialiased bilinear resize as two batched matrix products.

Pillow resizes in two separable passes (see :func:`vertical_first` for their
order), each a weighted sum of input pixels with weights from a triangle
filter widened by the reduction factor, stored in fixed point (22 bits) and
rounded to uint8 in between. The same weights, written as dense ``(size, length)`` matrices,
turn a whole batch of differently sized images into two ``matmul`` calls on
any array library that follows the array API (NumPy, torch on a GPU), with
no per-image kernel: what the GPU decoder needs to keep up with the model.

Use float64: products of 8-bit pixels and 22-bit weights are exact there, so
the sums are Pillow's integer sums and every pixel is Pillow's. In float32
they are not, and Pillow's sums land exactly on a half often enough (smooth
areas, simple scale factors) that some pixels in a thousand round the other way.
"""

from __future__ import annotations

from .._images import RESIZES_VERTICALLY_FIRST

__all__ = ["bilinear_weights", "groups_within", "padded_shape", "resize_batch", "vertical_first"]

_PRECISION_BITS = 32 - 8 - 2  # Pillow's fixed point for 8-bit images (Resample.c)


def bilinear_weights(lengths, size, width, xp, dtype, device=None):
    """``(n, size, width)`` weights mapping ``lengths[i]`` input pixels to ``size``.

    Row ``a`` of matrix ``i`` holds Pillow's coefficients for output pixel
    ``a`` (its ``precompute_coeffs`` and ``normalize_coeffs_8bpc``); columns
    at and past ``lengths[i]`` are zero, so inputs may be padded to ``width``.

    Parameters
    ----------
    lengths : sequence of int
    size : int
    width : int
        At least ``max(lengths)``.
    xp : array namespace
    dtype : floating dtype of ``xp``
    device : optional
        Where to build the weights (the images' device).
    """
    f64 = xp.float64 if _has_float64(xp, device) else xp.float32
    length = xp.reshape(xp.asarray(list(lengths), dtype=f64, device=device), (-1, 1, 1))
    scale = length / size
    filterscale = xp.where(scale < 1.0, xp.ones_like(scale), scale)
    support = filterscale  # the bilinear filter's support is 1
    a = xp.reshape(xp.arange(size, dtype=f64, device=device), (1, -1, 1))
    x = xp.reshape(xp.arange(width, dtype=f64, device=device), (1, 1, -1))
    center = (a + 0.5) * scale
    # Pillow: xmin = (int)(center - support + 0.5) clipped at 0; xmax = (int)(center + support + 0.5) clipped at length.
    low = xp.floor(center - support + 0.5)
    high = xp.minimum(xp.floor(center + support + 0.5), length)
    inside = (x >= low) & (x < high)
    step = 1.0 / filterscale  # Pillow multiplies by the reciprocal: the same last bits
    w = xp.where(inside, xp.clip(1.0 - xp.abs((x - center + 0.5) * step), 0.0, None), xp.zeros_like(x))
    total = xp.sum(w, axis=2, keepdims=True)
    w = w / xp.where(total == 0, xp.ones_like(total), total)
    one = float(1 << _PRECISION_BITS)
    w = xp.floor(w * one + 0.5) / one  # the weights Pillow adds up, in its fixed point
    return xp.astype(w, dtype)


def _has_float64(xp, device):
    # Apple's MPS and some accelerators have no float64; the weights then start in float32.
    try:
        xp.zeros(1, dtype=xp.float64, device=device)
    except (TypeError, RuntimeError):
        return False
    return True


def _round_to_uint8(values, xp):
    # Pillow: (sum + 2^21) >> 22, clipped to 0..255: round half up.
    return xp.astype(xp.clip(xp.floor(values + 0.5), 0, 255), xp.uint8)


def vertical_first(height, width, size):
    """Whether Pillow runs the vertical pass first for this resize to ``size`` x ``size``.

    Pillow 13 and later do when the height shrinks by more than twice the
    width's reduction (the horizontal pass then has fewer rows to filter);
    earlier versions always start with the horizontal pass. The order decides
    how the intermediate rounding falls, so it is followed image by image.
    """
    return RESIZES_VERTICALLY_FIRST and height - size > 0 and height - size > 2 * (width - size)


def resize_batch(images, heights, widths, size, xp, dtype=None):
    """Resize each of ``n`` top-left-aligned images in a padded batch to ``size`` x ``size``.

    Parameters
    ----------
    images : array of shape (n, H, W, 3), uint8
        Image ``i`` in ``[:heights[i], :widths[i]]``; the rest is ignored.
    heights, widths : sequence of int
    size : int
    xp : array namespace of ``images``
    dtype : floating dtype, default float32

    Returns
    -------
    array of shape (n, size, size, 3), uint8
        What ``PIL.Image.resize((size, size), Image.BILINEAR)`` gives for
        each image, pass order included (see :func:`vertical_first`).
    """
    dtype = xp.float32 if dtype is None else dtype
    n, height, width = images.shape[0], images.shape[1], images.shape[2]
    device = getattr(images, "device", None)
    wx = bilinear_weights(widths, size, width, xp, dtype, device)  # (n, size, W)
    wy = bilinear_weights(heights, size, height, xp, dtype, device)  # (n, size, H)
    planes = xp.astype(xp.permute_dims(images, (0, 3, 1, 2)), dtype)  # (n, 3, H, W)
    wx_t = xp.reshape(xp.permute_dims(wx, (0, 2, 1)), (n, 1, width, size))
    wy = xp.reshape(wy, (n, 1, size, height))
    order = [vertical_first(h, w, size) for h, w in zip(heights, widths, strict=True)]
    if not any(order):  # each pass rounded to uint8, as Pillow's intermediate image is
        out = _round_to_uint8(xp.matmul(wy, _rounded(xp.matmul(planes, wx_t), xp, dtype)), xp)
    elif all(order):
        out = _round_to_uint8(xp.matmul(_rounded(xp.matmul(wy, planes), xp, dtype), wx_t), xp)
    else:
        parts = []
        for flag in (False, True):
            index = xp.asarray([i for i in range(n) if order[i] == flag], device=device)
            parts.append(
                (
                    index,
                    resize_batch(
                        xp.take(images, index, axis=0),
                        [heights[i] for i in range(n) if order[i] == flag],
                        [widths[i] for i in range(n) if order[i] == flag],
                        size,
                        xp,
                        dtype,
                    ),
                )
            )
        out = xp.zeros((n, size, size, 3), dtype=xp.uint8, device=device)
        for index, part in parts:
            out[index, ...] = part
        return out
    return xp.permute_dims(out, (0, 2, 3, 1))


def _rounded(values, xp, dtype):
    return xp.astype(_round_to_uint8(values, xp), dtype)


def padded_shape(shapes):
    """The ``(H, W)`` that holds every ``(height, width)`` in ``shapes``."""
    return max(h for h, _ in shapes), max(w for _, w in shapes)


def groups_within(shapes, budget):
    """Split indices of ``shapes`` (sorted by area) into runs whose padded batch has at most
    ``budget`` pixels, so that one large photo does not pad a whole batch to its size."""
    order = sorted(range(len(shapes)), key=lambda i: shapes[i][0] * shapes[i][1])
    groups, current, height, width = [], [], 0, 0
    for i in order:
        h, w = max(height, shapes[i][0]), max(width, shapes[i][1])
        if current and (len(current) + 1) * h * w > budget:
            groups.append(current)
            current, h, w = [], shapes[i][0], shapes[i][1]
        current.append(i)
        height, width = h, w
    if current:
        groups.append(current)
    return groups
