"""The package's namespace: every public name resolves, and importing it (as a decoding worker does) is light."""

import subprocess
import sys

import pytest

import skcatdog


def test_every_public_name_resolves_and_star_imports_them_all():
    for name in skcatdog.__all__:
        assert getattr(skcatdog, name) is not None
    namespace = {}
    exec("from skcatdog import *", namespace)
    assert set(skcatdog.__all__) <= set(namespace)
    assert set(skcatdog.__all__) <= set(dir(skcatdog))
    assert skcatdog.KerasEmbeddingTransformer.__module__ == "skcatdog.embedding"


def test_submodules_are_attributes_and_unknown_names_are_refused():
    assert skcatdog.audit.find_issues is skcatdog.find_issues
    assert skcatdog.distributed.precompute.__module__ == "skcatdog.distributed"
    with pytest.raises(AttributeError, match="has no attribute 'KerasEmbedingTransformer'"):
        skcatdog.KerasEmbedingTransformer  # noqa: B018


def test_a_decoding_worker_imports_neither_scikit_learn_nor_keras():
    code = (
        "import sys, skcatdog._engine.processes, skcatdog._images; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'sklearn', 'keras', 'tensorflow', 'pandas'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
