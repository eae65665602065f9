"""The interface every runtime implements: a module with an ``ID``, ``available()`` and a ``Forward``.

A runtime runs the engine's Keras model (uint8 pixels in, ``[embedding,
logits]`` out) in its own way: Keras itself, or a copy of the model converted
for another inference library. Each runtime is one module of
:mod:`skcatdog._runtimes` that satisfies :class:`Runtime`; a module can
satisfy a :class:`typing.Protocol` as a class instance does (PEP 544), its
functions standing for the methods.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

__all__ = ["ForwardPass", "Runtime"]


class ForwardPass(Protocol):
    """A model ready to run: ``(b, size, size, 3)`` uint8 -> ``[embedding, logits]``.

    ``forward(batch, n_real)`` returns float32 arrays whose first ``n_real``
    rows belong to the first ``n_real`` images of ``batch`` (rows past them,
    if any, are padding to be dropped). It is called under the caller's lock,
    one batch at a time.
    """

    def __call__(self, batch, n_real: int | None = None) -> list: ...


class Runtime(Protocol):
    """What a runtime module provides.

    Attributes
    ----------
    ID : str
        The runtime's name (``"keras"``, ``"litert"``, ``"openvino"``), as
        ``Runner.runtime`` and ``skcatdog info`` report it.
    PRECISIONS : frozenset of str
        The resolved precisions it can run.
    Forward : callable
        ``Forward(model, backbone, *, precision, name, directory)`` ->
        :class:`ForwardPass`. ``model`` is the engine's Keras model, built in
        :meth:`dtype_policy`'s policy; ``name`` names a converted model kept on
        disk (the rows' fingerprint) and ``directory`` is this runtime's folder
        for them (``None``: convert in every process). A converting runtime
        checks its conversion against ``model`` on a probe batch and raises
        :class:`~skcatdog._runtimes.ConversionMismatch` rather than give other
        rows.
    """

    ID: str
    PRECISIONS: frozenset[str]
    Forward: Callable[..., ForwardPass]

    def available(self) -> bool:
        """Whether it can run in this process (installed, and on a Keras backend it supports)."""

    def rows_id(self, precision: str) -> str:
        """What besides the precision decides its rows: part of the rows' fingerprint.

        Runtimes whose rows agree to 1e-4 (the tolerance of folding BatchNorm)
        return the same value, so they share cache rows.
        """

    def dtype_policy(self, precision: str) -> str:
        """The Keras dtype policy to build the model in for ``precision``."""
