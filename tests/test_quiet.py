"""A user sees skcatdog's output only: TensorFlow's native start-up lines stay off the terminal."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from skcatdog._quiet import native_start_up_hushed
from tests._helpers import TRAIN, needs_shared

ROOT = Path(__file__).resolve().parents[1]
# absl's "I0000 00:00:..." / "E0000 ..." prefix, its pre-initialisation warning, and the known start-up notes.
NATIVE_LINE = re.compile(
    r"^[IWEF]\d{4} |absl::InitializeLog|oneDNN|cudart|cuInit|cpu_feature_guard|This TensorFlow binary|TensorFlow Lite",
    re.M,
)


def _quiet_env():
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env["PYTHONPATH"] = str(ROOT)
    return env


def test_loading_keras_prints_no_native_line():
    code = "from skcatdog._runtimes import keras; keras.load(); keras.gpu_available(); print('ok')"
    done = subprocess.run([sys.executable, "-c", code], env=_quiet_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
    assert not NATIVE_LINE.search(done.stderr), done.stderr


def test_a_level_the_user_set_below_one_leaves_stderr_alone(monkeypatch, capfd):
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "0")
    with native_start_up_hushed():
        os.write(2, b"native line\n")
    assert "native line" in capfd.readouterr().err


def test_unset_the_level_becomes_quiet_for_the_rest_of_the_process(monkeypatch, capfd):
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    with native_start_up_hushed():
        os.write(2, b"native line\n")
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "3"
    assert "native line" not in capfd.readouterr().err


@pytest.mark.slow
@needs_shared
def test_the_main_example_prints_no_native_line(tmp_path):
    # The README's main command on a small folder of the same photos: its output is skcatdog's alone.
    for label in ("cat", "dog"):
        (tmp_path / label).mkdir()
        for i in range(15):
            shutil.copy(TRAIN / label / f"{label}.{i}.jpg", tmp_path / label)
    env = _quiet_env()
    env["SKCATDOG_CACHE_DIR"] = str(tmp_path / "cache")
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "cross_validate.py"), str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    assert "5-fold CV log-loss" in done.stdout
    assert not NATIVE_LINE.search(done.stderr), done.stderr


def test_the_command_line_prints_no_native_line():
    # `skcatdog info` builds nothing but asks for the backend and the devices, as every command does first.
    done = subprocess.run(
        [sys.executable, "-m", "skcatdog", "info"], env=_quiet_env(), capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert "precision" in done.stdout
    assert not NATIVE_LINE.search(done.stderr), done.stderr
