"""The engine: images in, cached rows of (embedding, logits) out.

Every estimator that needs a CNN asks :func:`embed` for rows; none decodes
images or calls a model itself. A call runs in phases, each a module with
one job::

    request   what the call asks for, decided once (precision and decoder resolved)
    identify  each item's content digest (stat, memo, reading the file)
    probe     look rows up; header-check the misses
    decode    misses -> fixed-shape batches of pixels (the decoder seam)
    compute   forward passes; rows written to the store
    assemble  the output: per view, the mean of the views, or nothing
    recall    a repeated call answered from memory
    runner    the model on the runtime skcatdog._runtimes selects; the rows' fingerprint
    call      the phases in order: embed_many, find_missing

Preprocessing runs inside the compiled model (so the accelerator gets
uint8, a quarter of the bytes of float32), batches have one fixed shape (no
retracing on any backend), and decoding for the next batches overlaps the
forward pass of the current one.
"""

from .call import (
    MissingRows,
    Rows,
    content_digests,
    decoder_described,
    decoder_id,
    embed,
    embed_many,
    find_missing,
    gpu_decoder_id,
)
from .decode import Batch, DecodeJob, Decoder, ThreadDecoder
from .request import DECODERS, resolve_decoder
from .runner import (
    PRECISIONS,
    clear_runners,
    fingerprint,
    get_runner,
    gpu_available,
    gpu_name,
    resolve_batch_size,
    resolve_precision,
)
from .stats import stats

__all__ = [
    "DECODERS",
    "PRECISIONS",
    "Batch",
    "DecodeJob",
    "Decoder",
    "MissingRows",
    "Rows",
    "ThreadDecoder",
    "clear_runners",
    "content_digests",
    "decoder_described",
    "decoder_id",
    "embed",
    "embed_many",
    "find_missing",
    "fingerprint",
    "get_runner",
    "gpu_available",
    "gpu_decoder_id",
    "gpu_name",
    "resolve_batch_size",
    "resolve_decoder",
    "resolve_precision",
    "stats",
]
