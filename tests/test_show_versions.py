"""show_versions: what a bug report or a GPU set-up check needs, read from this process."""

import re

import pytest

from skcatdog import config_context, show_versions


def _sections(text):
    """``{section: {key: value}}`` from show_versions' output."""
    found, current = {}, None
    for line in text.splitlines():
        if line.endswith(":") and not line.startswith(" "):
            current = found.setdefault(line[:-1], {})
        elif current is not None and ": " in line:
            key, value = line.split(": ", 1)
            current[key.strip()] = value
    return found


def test_it_prints_the_system_the_versions_and_the_choices(capsys):
    show_versions()
    found = _sections(capsys.readouterr().out)
    assert set(found) == {"System", "Python dependencies", 'What "auto" picks here'}
    assert {"python", "cpu", "keras backend", "gpu"} <= set(found["System"])
    versions = found["Python dependencies"]
    assert re.fullmatch(r"\d+\.\d+.*", versions["skcatdog"]) and re.fullmatch(r"\d+\.\d+.*", versions["keras"])
    assert all(v == "not installed" or re.match(r"\d", v) for v in versions.values()), versions
    choices = found['What "auto" picks here']
    assert choices["precision"] in ("float32", "bfloat16", "mixed")
    assert choices["runtime"] in ("litert", "openvino", "keras")
    assert choices["batch size"] in ("64", "256")


def test_the_choices_follow_the_config(capsys):
    with config_context(decoder="processes"):
        show_versions()
    assert "worker processes" in _sections(capsys.readouterr().out)['What "auto" picks here']["decoder"]
    with config_context(decoder="threads", cpu_runtime="keras"):
        show_versions(backbone="efficientnet_lite0")
    choices = _sections(capsys.readouterr().out)['What "auto" picks here']
    assert "threads" in choices["decoder"] and choices["backbone"] == "efficientnet_lite0"
    assert choices["precision"] != "float32" or choices["runtime"] == "keras"


def test_gpu_decoding_asked_for_where_it_cannot_run_says_so(capsys):
    from skcatdog import _engine

    if _engine.gpu_decoder_id() is not None:
        pytest.skip("GPU decoding is available here")
    with config_context(decoder="gpu"):
        show_versions()
    decoder = _sections(capsys.readouterr().out)['What "auto" picks here']["decoder"]
    assert "asked for" in decoder and "nvImageCodec" in decoder


def test_an_unknown_backbone_is_refused():
    with pytest.raises(ValueError, match="unknown backbone 'nope'"):
        show_versions(backbone="nope")


def test_the_choices_are_what_select_decides(capsys):
    from skcatdog._runtimes import select

    show_versions(backbone="efficientnet_lite2")
    choices = _sections(capsys.readouterr().out)['What "auto" picks here']
    choice = select("auto", "efficientnet_lite2")
    assert (choices["precision"], choices["runtime"]) == (choice.precision, choice.runtime.ID)
