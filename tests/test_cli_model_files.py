"""Model files: skops by default (only trusted types load), pickles only with --allow-pickle.

Runs on the tiny random-weights backbone and generated photos, so it needs neither ../shared nor
ImageNet weights; one test loads the saved file in a fresh interpreter.
"""

import collections
import csv
import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import joblib
import numpy as np
import pytest
import sklearn

import skcatdog._version
import skcatdog.model_files
from skcatdog import cli
from skcatdog.model_files import MODEL_FORMAT, ModelFileError, load_model, save_model
from tests._mirror import jpeg_bytes

REPO = Path(__file__).resolve().parents[1]


def run(*argv):
    out = io.StringIO()
    status = cli.main([str(a) for a in argv], out=out)
    return status, out.getvalue()


def error_line(capsys, command):
    lines = capsys.readouterr().err.strip("\n").splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"skcatdog {command}: error: "), lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """10 orange 'cats' and 10 blue 'dogs' in one sub-folder per class, and 6 numbered test photos."""
    root = tmp_path_factory.mktemp("model-files")
    for label, color in (("cat", (210, 120, 50)), ("dog", (50, 90, 210))):
        (root / "train" / label).mkdir(parents=True)
        for i in range(10):
            (root / "train" / label / f"{label}.{i}.jpg").write_bytes(jpeg_bytes(color, seed=i + 50 * (label == "dog")))
    (root / "test").mkdir()
    for i in range(1, 7):
        (root / "test" / f"{i}.jpg").write_bytes(jpeg_bytes((210, 120, 50) if i % 2 else (50, 90, 210), seed=900 + i))
    return root


TRAIN_OPTIONS = {
    "default": [],
    # Every optional step: the outlier filter (imblearn sampler), a scaler and the clipping wrapper.
    "all-steps": ["--drop-outliers", 1000, "--standardize", "--clip", 0.01],
}


@pytest.fixture(scope="module", params=list(TRAIN_OPTIONS))
def trained(request, photos, tmp_path_factory):
    """`skcatdog train` with the default --out (model.skops, in the working directory); the fitted
    pipeline is captured before it is saved."""
    work = tmp_path_factory.mktemp(f"train-{request.param}")
    saved = {}
    real_save = skcatdog.model_files.save_model

    def capture(model, path, **info):
        saved["pipeline"] = model
        return real_save(model, path, **info)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(skcatdog.model_files, "save_model", capture)
        mp.chdir(work)
        status, out = run(
            "train", photos / "train", "--backbone", "tiny_test", "--cv", 0, "--C", 1,
            "--cache", work / "cache", "-q", *TRAIN_OPTIONS[request.param],
        )  # fmt: skip
    assert status == 0, out
    return {"model": work / "model.skops", "out": out, **saved}


def test_train_writes_a_skops_file_by_default(trained):
    assert "saved model.skops" in trained["out"]
    assert zipfile.is_zipfile(trained["model"])  # a skops archive, not a pickle
    payload = load_model(trained["model"])
    assert payload["format"] == MODEL_FORMAT and payload["classes"] == ["cat", "dog"]
    assert payload["skcatdog"] == skcatdog._version.__version__ and payload["sklearn"] == sklearn.__version__
    # Everything in the default pipeline is trusted without --trust.
    trusted, refused = skcatdog.model_files.untrusted_types(trained["model"])
    assert refused == [] and "skcatdog.embedding.KerasEmbeddingTransformer" in trusted


FRESH_PROCESS = """
import json, os, sys
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import tests._helpers  # registers the tiny_test backbone, as an installed plugin would
from skcatdog.model_files import load_model
model = load_model(sys.argv[1])["model"]
print(json.dumps({"steps": [type(s).__name__ for _, s in model.steps],
                  "proba": model.predict_proba(json.loads(sys.argv[2])).tolist()}))
"""


def test_skops_file_round_trips_in_a_fresh_process(trained, photos):
    paths = sorted(os.fspath(p) for p in (photos / "test").iterdir())
    before = trained["pipeline"].predict_proba(paths)
    proc = subprocess.run(
        [sys.executable, "-c", FRESH_PROCESS, os.fspath(trained["model"]), json.dumps(paths)],
        check=False, capture_output=True, text=True, timeout=300, cwd=REPO,
        env={**os.environ, "PYTHONPATH": os.fspath(REPO)},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    after = json.loads(proc.stdout.strip().splitlines()[-1])
    assert after["steps"] == [type(s).__name__ for _, s in trained["pipeline"].steps]
    np.testing.assert_allclose(after["proba"], before, rtol=0, atol=1e-7)
    assert np.ptp(before[:, 1]) > 0.2  # the two colours get different probabilities: not a constant model


def test_predict_reads_a_skops_file(trained, photos, tmp_path):
    status, out = run("predict", trained["model"], photos / "test", "--out", tmp_path / "s.csv", "-q")
    assert status == 0, out
    with open(tmp_path / "s.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["id", "label"] and [r[0] for r in rows[1:]] == [str(i) for i in range(1, 7)]
    paths = [os.fspath(photos / "test" / f"{i}.jpg") for i in range(1, 7)]
    expected = trained["pipeline"].predict_proba(paths)[:, 1]
    np.testing.assert_allclose([float(r[1]) for r in rows[1:]], expected, atol=1e-6)


def _skops_payload(path, model, **extra):
    import skops.io

    payload = {"format": MODEL_FORMAT, "skcatdog": skcatdog._version.__version__, "sklearn": sklearn.__version__,
               "model": model, **extra}  # fmt: skip
    path.write_bytes(skops.io.dumps(payload))


def test_crafted_skops_file_with_an_untrusted_function_is_refused(tmp_path, photos, capsys):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    # Loading would hand os.system to a transformer that calls it on whatever it is given.
    model = tmp_path / "evil.skops"
    _skops_payload(model, make_pipeline(FunctionTransformer(os.system)))
    with pytest.raises(ModelFileError, match=r"posix\.system.*--trust"):
        load_model(model)
    status, out = run("predict", model, photos / "test", "--out", tmp_path / "s.csv", "-q")
    assert status == 2 and out == ""
    line = error_line(capsys, "predict")
    assert "posix.system" in line and "evil.skops" in line and "refusing" in line
    assert not (tmp_path / "s.csv").exists()


def test_trust_loads_a_skops_file_with_other_types(tmp_path, trained):
    model = tmp_path / "counter.skops"
    _skops_payload(model, load_model(trained["model"])["model"], meta=collections.Counter(photos=20))
    with pytest.raises(ModelFileError, match=r"collections\.Counter"):
        load_model(model)
    assert load_model(model, trust=True)["meta"] == collections.Counter(photos=20)


@pytest.mark.parametrize(
    "name, trusted",
    [
        ("sklearn.linear_model._logistic.LogisticRegression", True),
        ("imblearn.pipeline.Pipeline", True),
        ("skcatdog.clipped.ClippedClassifier", True),
        ("numpy.float64", True),
        ("sklearn.metrics._classification.log_loss", True),  # in the log-loss scorer of GridSearchCV
        ("numpy.load", False),  # a function outside scikit-learn: could be called with chosen arguments
        ("sklearn.no_such_module.Thing", False),
        ("sklearnx.Thing", False),
        ("skcatdog.__main__.main", False),  # resolving it would import, and so run, the CLI
        ("builtins.eval", False),
    ],
)
def test_which_types_are_trusted(name, trusted):
    assert skcatdog.model_files._is_trusted(name) is trusted


def test_skops_model_from_another_version_is_refused(trained, monkeypatch):
    monkeypatch.setattr(skcatdog._version, "__version__", "99.0")
    with pytest.raises(ModelFileError, match=r"trained with skcatdog .*this is skcatdog 99\.0"):
        load_model(trained["model"])


def test_a_zip_that_is_not_a_skops_file_is_refused(tmp_path):
    model = tmp_path / "model.skops"
    with zipfile.ZipFile(model, "w") as z:
        z.writestr("hello.txt", "not a model")
    with pytest.raises(ModelFileError, match="is not a skcatdog model file"):
        load_model(model)


def test_joblib_needs_allow_pickle(trained, photos, tmp_path, capsys):
    pipe = load_model(trained["model"])["model"]
    model = tmp_path / "model.joblib"
    save_model(pipe, model, classes=["cat", "dog"])
    with pytest.raises(ModelFileError, match="arbitrary code.*--allow-pickle"):
        load_model(model)
    status, out = run("predict", model, photos / "test", "--out", tmp_path / "s.csv", "-q")
    assert status == 2 and out == "" and not (tmp_path / "s.csv").exists()
    assert "--allow-pickle" in error_line(capsys, "predict")
    # A pickle under a skops name is still told by its content, and still refused.
    renamed = tmp_path / "renamed.skops"
    renamed.write_bytes(model.read_bytes())
    with pytest.raises(ModelFileError, match="pickle"):
        load_model(renamed)
    status, out = run("predict", model, photos / "test", "--out", tmp_path / "s.csv", "-q", "--allow-pickle")
    assert status == 0 and (tmp_path / "s.csv").is_file()


def test_joblib_provenance_is_still_checked_with_allow_pickle(tmp_path):
    model = tmp_path / "old.joblib"
    joblib.dump({"format": MODEL_FORMAT, "skcatdog": "0.0.0", "sklearn": sklearn.__version__, "model": None}, model)
    with pytest.raises(ModelFileError, match="trained with skcatdog 0.0.0"):
        load_model(model, allow_pickle=True)


def test_not_a_model_file_at_all(tmp_path):
    model = tmp_path / "model.skops"
    model.write_text("just text\n")
    with pytest.raises(ModelFileError, match="is not a skcatdog model file"):
        load_model(model)


def test_predict_help_warns_about_pickles(capsys):
    with pytest.raises(SystemExit):
        cli.main(["predict", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--allow-pickle" in text and "arbitrary code" in text and "--trust" in text
