"""Root conftest: the docstring examples that run a real network count as slow tests."""

import pytest

# Doctests that build an ImageNet backbone (seconds each on a CPU): deselected by -m "not slow".
_NETWORK_DOCTESTS = (
    "skcatdog.embedding.KerasEmbeddingTransformer",
    "skcatdog.outlier_filter.ImageNetOutlierFilter",
)


def pytest_collection_modifyitems(items):
    for item in items:
        if isinstance(item, pytest.DoctestItem) and item.name in _NETWORK_DOCTESTS:
            item.add_marker(pytest.mark.slow)
