"""Counts of the work this process's forward passes did: the engine's public counters."""

from __future__ import annotations

import threading

__all__ = ["WorkCounts", "stats"]


class WorkCounts:
    """Counts of work done by forward passes in this process (tests and benchmarks read them).

    Attributes
    ----------
    images_forwarded : int
        Views that went through a forward pass.
    models_built : int
        Models built (one per backbone, weights, precision and runtime).
    items_identified : int
        Items whose content the identify phase looked up (a remembered call
        looks up none).
    files_read : int
        Files the identify and look-up phases read, to digest or check them
        (a call whose files the digest memo knows and whose rows are all
        found reads none; decoding reads the misses again).
    calls_recalled : int
        Calls answered whole from process memory: the output of an earlier call
        on the same files, none changed since.
    seconds_probe, seconds_decode, seconds_forward, seconds_store : float
        Seconds spent per stage, summed over threads.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self.reset()

    def reset(self):
        with self._lock:
            self.images_forwarded = 0
            self.models_built = 0
            self.items_identified = 0
            self.calls_recalled = 0
            self.files_read = 0
            self.seconds_probe = 0.0
            self.seconds_decode = 0.0
            self.seconds_forward = 0.0
            self.seconds_store = 0.0

    def snapshot(self):
        """The counters as a dict, read together (subtract two for the work between them)."""
        with self._lock:
            return {name: value for name, value in vars(self).items() if not name.startswith("_")}

    def add(self, **counts):
        with self._lock:
            for name, n in counts.items():
                setattr(self, name, getattr(self, name) + n)


stats = WorkCounts()
