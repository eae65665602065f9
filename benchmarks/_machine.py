"""What every benchmark table prints about the machine it ran on."""

import os

from skcatdog._cpu import cpu_field, cpu_model  # the package's reading of /proc/cpuinfo

__all__ = ["cores", "cpu_flags", "cpu_model", "gpu_model", "machine_line"]


def cores():
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def cpu_flags():
    """The CPU features that decide the fastest runtime: AMX and AVX-512 (bf16 among them)."""
    try:
        flags = (cpu_field("/proc/cpuinfo", "flags") or "").split()
    except OSError:
        return "unknown"
    return " ".join(sorted(f for f in flags if f.startswith(("amx", "avx512_bf16", "avx512f")))) or "none"


def gpu_model():
    """The first CUDA GPU's name, or ``None`` (asks nvidia-smi; imports no framework)."""
    import shutil
    import subprocess

    if shutil.which("nvidia-smi") is None:
        return None
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,memory.total", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=20,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip().splitlines()[0] if out.returncode == 0 and out.stdout.strip() else None


def machine_line():
    """One line for the top of a table: CPU model, its cores and flags, and the GPU if any."""
    gpu = gpu_model()
    return f"CPU {cpu_model()} ({cores()} cores; {cpu_flags()}); GPU {gpu or 'none'}"
