"""CPU feature detection: which bf16 instruction sets the kernel reports."""

import subprocess
import sys

import pytest

from skcatdog._cpu import BF16_FLAGS, cpu_bf16_flags, cpu_has_bf16, cpu_model

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the flags are read on Linux only")

X86 = """processor\t: 0
vendor_id\t: {vendor}
model name\t: {model}
flags\t\t: fpu vme sse sse2 avx2 avx512f {extra}
bogomips\t: 4000.00

processor\t: 1
flags\t\t: fpu amx_bf16 avx512_bf16
"""

ARM = """processor\t: 0
BogoMIPS\t: 243.75
Features\t: fp asimd evtstrm aes sha1 bf16 i8mm

processor\t: 1
flags\t\t: amx_bf16
"""


def _cpuinfo(tmp_path, text):
    path = tmp_path / "cpuinfo"
    path.write_text(text)
    return str(path)


@linux_only
@pytest.mark.parametrize(
    "extra, expected",
    [
        ("amx_bf16 amx_tile amx_int8 avx512_bf16", ("amx_bf16", "avx512_bf16")),  # Sapphire Rapids
        ("avx512_bf16 avx512_vnni", ("avx512_bf16",)),  # AMD Zen 4, Cooper Lake
        ("avx512_vnni", ()),  # AVX-512 without bf16: float32
    ],
)
def test_flags_of_the_first_cpu(tmp_path, extra, expected):
    text = X86.format(vendor="GenuineIntel", model="a CPU", extra=extra)
    assert cpu_bf16_flags(_cpuinfo(tmp_path, text)) == expected


@linux_only
def test_cpus_without_a_flags_line_have_no_bf16(tmp_path):
    # ARM lists "Features"; the detector stops at the first CPU's end rather than read every CPU.
    assert cpu_bf16_flags(_cpuinfo(tmp_path, ARM)) == ()
    assert cpu_bf16_flags(str(tmp_path / "missing")) == ()


def test_the_answer_is_one_of_the_known_flags():
    flags = cpu_bf16_flags()
    assert set(flags) <= set(BF16_FLAGS)
    assert cpu_has_bf16() is bool(flags)


@linux_only
def test_the_model_name_is_the_first_cpus(tmp_path):
    text = X86.format(vendor="GenuineIntel", model="Xeon 8480+", extra="")
    assert cpu_model(_cpuinfo(tmp_path, text)) == "Xeon 8480+"
    assert cpu_model(_cpuinfo(tmp_path, ARM))  # no model name line: still a name, from the platform


def test_asking_costs_a_new_process_no_import_beyond_the_module():
    # Every new process that embeds asks; the module must stay a file read, not an import of platform or more.
    code = "import sys, skcatdog; old = set(sys.modules); import skcatdog._cpu; print(sorted(set(sys.modules) - old))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['skcatdog._cpu']"
