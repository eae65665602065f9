"""What every benchmark table prints about the machine it ran on."""

import os
import platform
from pathlib import Path


def cpu_model():
    """The CPU's model name (``/proc/cpuinfo``), else what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cores():
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def cpu_flags():
    """The CPU features that decide the fastest runtime: AMX and AVX-512 (bf16 among them)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags = line.split(":", 1)[1].split()
                return " ".join(sorted(f for f in flags if f.startswith(("amx", "avx512_bf16", "avx512f")))) or "none"
    except OSError:
        pass
    return "unknown"


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
