"""numpydoc validation of every public docstring (as scikit-learn's tests/test_docstrings.py does)."""

import inspect

import pytest

numpydoc_validate = pytest.importorskip("numpydoc.validate")

import skcatdog
import skcatdog.active
import skcatdog.distributed
import skcatdog.imagenet
import skcatdog.metrics
import skcatdog.model_files
import skcatdog.novelty
import skcatdog.recipe

# Checked: everything numpydoc knows, but these, which scikit-learn skips too or which
# do not fit short helpers: GL01/GL02 (blank line placement around the text), ES01 (an
# extended summary), SA01 (a See Also section), EX01 (an Examples section), RT02 (the
# Returns entries are written `name : type`, as in scikit-learn).
IGNORED = {"GL01", "GL02", "ES01", "SA01", "EX01", "RT02"}

MODULES = [
    skcatdog,
    skcatdog.active,
    skcatdog.distributed,
    skcatdog.imagenet,
    skcatdog.metrics,
    skcatdog.model_files,
    skcatdog.novelty,
    skcatdog.recipe,
]


def _public_objects():
    seen = {}
    for module in MODULES:
        for name in module.__all__:
            obj = getattr(module, name)
            if not (inspect.isclass(obj) or inspect.isfunction(obj)):
                continue  # constants, the scorer object, __version__
            if getattr(obj, "__module__", "").split(".")[0] != "skcatdog":
                continue  # re-exports: imblearn's Pipeline and make_pipeline
            qualname = f"{obj.__module__}.{obj.__qualname__}"
            seen[qualname] = obj
            if inspect.isclass(obj):
                for attr, member in vars(obj).items():
                    if attr.startswith("_") or not (inspect.isfunction(member) or isinstance(member, property)):
                        continue
                    seen[f"{qualname}.{attr}"] = member
    return sorted(seen)


PUBLIC = _public_objects()


def test_the_public_api_is_covered():
    names = set(PUBLIC)
    for expected in [
        "skcatdog.clipped.ClippedClassifier.predict",
        "skcatdog.clipped.ClippedClassifier.predict_log_proba",
        "skcatdog.backbones._registry.get_backbone",
        "skcatdog.backbones._registry.register_backbone",
        "skcatdog._store.location.default_cache_dir",
        "skcatdog.distributed.precompute",
        "skcatdog.model_files.load_model",
        "skcatdog.recipe.make_default_pipeline",
        "skcatdog.outlier_filter.ImageNetOutlierFilter.fit_resample",
    ]:
        assert expected in names, expected


@pytest.mark.parametrize("name", PUBLIC)
def test_docstring(name):
    result = numpydoc_validate.validate(name)
    errors = [(code, msg) for code, msg in result["errors"] if code not in IGNORED]
    assert not errors, f"{name}:\n" + "\n".join(f"  {code}: {msg}" for code, msg in errors)
