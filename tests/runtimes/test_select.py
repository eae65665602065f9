"""The one decision: which precision and which runtime compute a backbone's rows here."""

import re
import types

import numpy as np
import pytest

from skcatdog import _engine, _runtimes, config_context
from skcatdog._runtimes import ConversionMismatch, build_forward, resolve_precision, select

from .._helpers import random_images

MODULES = (_runtimes.keras, _runtimes.litert, _runtimes.openvino)


@pytest.fixture
def cpu_only():
    if _runtimes.gpu_available():
        pytest.skip("a GPU is visible: auto means mixed here")


def _bf16_pays_here():
    from skcatdog._cpu import cpu_has_bf16

    return cpu_has_bf16() and _runtimes.keras.backend() == "tensorflow" and not _runtimes.gpu_available()


@pytest.mark.parametrize("runtime", MODULES, ids=lambda m: m.ID)
def test_every_runtime_module_has_the_one_interface(runtime):
    for name in ("ID", "PRECISIONS", "Forward", "available", "rows_id", "dtype_policy"):
        assert hasattr(runtime, name), name
    assert _runtimes.RUNTIMES[runtime.ID] is runtime
    assert runtime.PRECISIONS <= set(_runtimes.PRECISIONS) - {"auto"}
    assert isinstance(runtime.available(), bool)
    for precision in runtime.PRECISIONS:
        assert runtime.dtype_policy(precision) in ("float32", "mixed_float16", "mixed_bfloat16")


@pytest.mark.parametrize("precision", _runtimes.PRECISIONS)
def test_the_runtime_selected_runs_the_precision_selected(precision):
    choice = select(precision, "efficientnet_lite2")
    assert choice.precision in choice.runtime.PRECISIONS
    assert choice.runtime.available()
    assert choice.precision == resolve_precision(precision, "efficientnet_lite2")


def test_precision_choices(monkeypatch):
    assert resolve_precision("float32") == "float32"
    assert resolve_precision("mixed") == "mixed"
    monkeypatch.setattr(_runtimes.keras, "gpu_available", lambda: True)
    assert resolve_precision("auto") == "mixed"
    assert select("auto", "efficientnet_lite2") == ("mixed", _runtimes.keras)
    assert select("float32").runtime is _runtimes.keras  # on the GPU, not LiteRT on the CPU
    monkeypatch.setattr(_runtimes.keras, "gpu_available", lambda: False)
    assert resolve_precision("auto") == "float32"
    with pytest.raises(ValueError, match="precision"):
        resolve_precision("half")
    assert _engine.resolve_precision is resolve_precision  # the engine, the estimators and the cluster ask here


def test_auto_precision_is_bfloat16_only_where_it_was_measured_to_pay(cpu_only):
    assert resolve_precision("auto", "tiny_test") == "float32"  # its bf16 quality was never measured
    assert resolve_precision("auto", "efficientnet_lite2") == ("bfloat16" if _bf16_pays_here() else "float32")


def test_explicit_precision_wins():
    for precision in ("float32", "mixed", "bfloat16"):
        assert resolve_precision(precision, "efficientnet_lite2") == precision
    if _bf16_pays_here():
        assert _engine.get_runner("tiny_test", None, "float32").runtime in ("litert", "keras")


@pytest.mark.parametrize("cpu_runtime", ["auto", "keras"])
def test_the_runtime_selected_before_building_is_the_one_built(cpu_runtime, cpu_only):
    with config_context(cpu_runtime=cpu_runtime):
        for precision in ("float32", "bfloat16"):
            named = select(precision, "tiny_test").runtime.ID
            assert named == _engine.get_runner("tiny_test", None, precision).runtime, precision
    if cpu_runtime == "keras":
        assert named != "litert"


def test_litert_asked_for_where_it_cannot_run_is_refused(monkeypatch):
    monkeypatch.setattr(_runtimes.keras, "gpu_available", lambda: True)
    with config_context(cpu_runtime="litert"), pytest.raises(RuntimeError, match="cpu_runtime='litert' needs"):
        select("float32")


def test_an_unknown_cpu_runtime_from_the_environment_is_refused(monkeypatch):
    from skcatdog._runtimes import selection

    monkeypatch.setattr(selection, "get_config", lambda: {"cpu_runtime": "tflite"})
    with pytest.raises(ValueError, match=r"cpu_runtime \(or \$SKCATDOG_CPU_RUNTIME\) must be one of"):
        select("float32")


def test_float32_runtimes_share_rows_and_bfloat16_runtimes_do_not():
    assert _runtimes.litert.rows_id("float32") == _runtimes.keras.rows_id("float32")
    if _runtimes.openvino.available():
        assert _runtimes.openvino.rows_id("bfloat16") != _runtimes.keras.rows_id("bfloat16")


def test_bfloat16_runs_on_keras_without_openvino(monkeypatch, forward_count, cpu_only):
    installed, before = _runtimes.openvino.available(), _engine.fingerprint("tiny_test", None, "bfloat16")
    monkeypatch.setattr(_runtimes.openvino, "available", lambda: False)
    assert select("bfloat16").runtime is _runtimes.keras
    if installed:  # OpenVINO's rows and Keras's are not interchangeable
        assert _engine.fingerprint("tiny_test", None, "bfloat16") != before
    images = random_images(3, seed=12)
    exact = _engine.embed(images, "tiny_test", None, precision="float32")
    bf16 = _engine.embed(images, "tiny_test", None, precision="bfloat16")
    assert _engine.get_runner("tiny_test", None, "bfloat16").runtime == "keras"
    np.testing.assert_allclose(bf16.embeddings, exact.embeddings, rtol=2e-2, atol=2e-2)


def _refusing(rows_id):
    """A converting runtime whose conversion never matches, with rows named ``rows_id``."""

    def forward(*args, **kwargs):
        raise ConversionMismatch("the Fake conversion of tiny_test does not match its Keras model")

    return types.SimpleNamespace(ID="fake", Forward=forward, rows_id=lambda precision: rows_id)


def test_a_failed_conversion_falls_back_to_keras_only_where_keras_gives_the_same_rows(tmp_path):
    same = _runtimes.Choice("float32", _refusing(_runtimes.keras.rows_id("float32")))
    with pytest.warns(RuntimeWarning, match="runs on Keras instead"):
        runtime, forward = build_forward(same, "model", "tiny_test", name="fp", directory=str(tmp_path))
    assert runtime is _runtimes.keras and forward.model == "model"
    other = _runtimes.Choice("bfloat16", _refusing("fake-1.0"))
    with pytest.raises(ConversionMismatch):  # Keras's bf16 rows would be other rows under this fingerprint
        build_forward(other, "model", "tiny_test", name="fp", directory=tmp_path)


def test_runtimes_import_no_heavy_library():
    import subprocess
    import sys

    code = "import sys, skcatdog._runtimes; print(sorted({'keras', 'tensorflow', 'openvino'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_user_guide_lists_each_runtime_with_its_precisions():
    from pathlib import Path

    page = Path(__file__).resolve().parents[2] / "doc" / "user_guide" / "runtimes.rst"
    section = page.read_text(encoding="utf-8").split("Which runtime runs\n")[1].split("\n====")[0]
    rows = re.findall(r"\* - ``(\w+)``\n\s+- (.+)\n", section)
    listed = {runtime: set(re.findall(r"``(\w+)``", precisions)) for runtime, precisions in rows}
    assert listed == {runtime.ID: set(runtime.PRECISIONS) for runtime in MODULES}
