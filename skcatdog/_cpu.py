"""What the CPU can do, read cheaply enough to ask in every new process.

Only Linux on x86 is read (the kernel's ``/proc/cpuinfo`` flags); elsewhere
the answer is "no bf16", which keeps float32, the safe default.
"""

from __future__ import annotations

import functools
import sys

__all__ = ["BF16_FLAGS", "cpu_bf16_flags", "cpu_field", "cpu_has_bf16", "cpu_model"]

#: The kernel's names for the instructions that compute in bfloat16: Intel's
#: AMX tiles (Sapphire Rapids and later) and AVX-512 BF16 (also AMD Zen 4).
BF16_FLAGS = ("amx_bf16", "avx512_bf16")


def cpu_field(path, name):
    """The value of the first CPU's ``name`` line, or ``None``; the file is left after it.

    The kernel writes ``/proc/cpuinfo`` as it is read, one CPU at a time, so
    stopping at the first CPU keeps the cost flat on a 64-core host.
    """
    with open(path, encoding="ascii", errors="replace") as f:
        for line in f:
            if line.startswith(name):
                return line.partition(":")[2].strip()
            if not line.strip():  # the end of the first CPU's block, without the field
                break
    return None


@functools.lru_cache(maxsize=4)
def cpu_bf16_flags(cpuinfo="/proc/cpuinfo"):
    """The bf16 instruction sets this CPU has, of :data:`BF16_FLAGS`.

    Parameters
    ----------
    cpuinfo : str, default="/proc/cpuinfo"
        The file to read the kernel's CPU flags from.

    Returns
    -------
    tuple of str
        In :data:`BF16_FLAGS` order; empty off Linux, off x86, or when
        ``/proc/cpuinfo`` cannot be read.
    """
    if not sys.platform.startswith("linux"):
        return ()
    try:
        flags = set((cpu_field(cpuinfo, "flags") or "").split())
    except OSError:
        return ()
    return tuple(name for name in BF16_FLAGS if name in flags)


def cpu_has_bf16():
    """Whether the CPU computes in bfloat16 natively (AMX or AVX-512 BF16).

    Read once per process (well under a millisecond) and remembered.

    Returns
    -------
    bool

    Examples
    --------
    >>> from skcatdog._cpu import cpu_has_bf16
    >>> isinstance(cpu_has_bf16(), bool)
    True
    """
    return bool(cpu_bf16_flags())


def cpu_model(cpuinfo="/proc/cpuinfo"):
    """The CPU's model name: the kernel's ``model name`` on Linux, else what :mod:`platform` says.

    Returns
    -------
    str
    """
    try:
        name = cpu_field(cpuinfo, "model name")
    except OSError:
        name = None
    if name:
        return name
    import platform  # here, not above: importing it costs more than the flags' whole read

    return platform.processor() or platform.machine()
