"""Kept for imports written before the engine parameters moved to ``_engine_params``."""

from ._engine_params import engine_kwargs

__all__ = ["engine_kwargs"]
