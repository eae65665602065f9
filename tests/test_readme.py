"""The README's Python example runs as written (on the shared photos)."""

import re
from pathlib import Path

import pytest

from tests._helpers import TRAIN, needs_shared

README = Path(__file__).resolve().parents[1] / "README.md"


@needs_shared
@pytest.mark.slow
def test_readme_example():
    (code,) = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)[:1]
    # The README's folder of labelled photos is the shared Dogs vs Cats training set here.
    assert '"dogs-vs-cats/train"' in code
    code = code.replace('"dogs-vs-cats/train"', repr(str(TRAIN)))
    *body, last = code.strip().splitlines()
    namespace = {}
    exec("\n".join(body), namespace)
    scores = eval(last, namespace)
    assert scores.shape == (5,)
    assert -scores.mean() < 0.05  # Lite2 + LogisticRegression: about 0.02 on these photos
