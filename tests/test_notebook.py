"""find_issues' result in a notebook: a real kernel runs a cell and its HTML output shows the photos."""

import json
import os
import shutil
from pathlib import Path

import pytest

from tests._helpers import random_images

nbclient = pytest.importorskip("nbclient", reason="needs nbclient (pip install -e '.[test]')")
nbformat = pytest.importorskip("nbformat", reason="needs nbformat (pip install -e '.[test]')")
pytest.importorskip("ipykernel", reason="needs ipykernel (pip install -e '.[test]')")

ROOT = Path(__file__).resolve().parents[1]
ODD = "<b>.png"


def test_find_issues_shows_thumbnails_in_a_notebook(tmp_path):
    from PIL import Image

    folder = tmp_path / "photos"
    folder.mkdir()
    paths = []
    for i, arr in enumerate(random_images(4, seed=5, size=(48, 40))):
        Image.fromarray(arr).save(folder / f"{i}.png")
        paths.append(str(folder / f"{i}.png"))
    shutil.copy(folder / "0.png", folder / ODD)  # an exact copy: the audit lists it
    paths.append(str(folder / ODD))
    # The kernel imports this checkout's skcatdog and registers the tiny test backbone, as the tests do.
    setup = (
        f"import os, sys\nos.environ['TF_CPP_MIN_LOG_LEVEL'] = '3'\nsys.path.insert(0, {json.dumps(os.fspath(ROOT))})\n"
        "import tests._helpers\nfrom skcatdog import find_issues"
    )
    show = f"issues = find_issues({json.dumps(paths)}, backbone='tiny_test', cache=None, n_jobs=1)\nissues"
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(setup), nbformat.v4.new_code_cell(show)])
    client = nbclient.NotebookClient(
        notebook, kernel_name="python3", timeout=120, resources={"metadata": {"path": os.fspath(tmp_path)}}
    )
    client.execute()
    (output,) = [o for o in notebook.cells[1].outputs if o.get("output_type") == "execute_result"]
    shown = output["data"]["text/html"]
    assert "<img" in shown and "data:image/jpeg;base64," in shown
    assert "&lt;b&gt;.png" in shown and "<b>.png" not in shown  # the odd name is escaped
    assert "exact_duplicate" in output["data"]["text/plain"]  # the DataFrame's own text is unchanged


def test_find_issues_returns_a_photo_table_of_the_same_contents():
    import pandas as pd

    from skcatdog import find_issues
    from skcatdog.audit import COLUMNS
    from skcatdog.report import PhotoTable

    photos = random_images(3, seed=2)
    photos.append(photos[0].copy())  # an exact copy, of arrays: the table keeps them to show
    issues = find_issues(photos, backbone="tiny_test", cache=None, checks=["exact_duplicate"])
    assert isinstance(issues, PhotoTable) and list(issues.columns) == list(COLUMNS)
    assert sorted(issues["item"]) == ["X[0] (array)", "X[3] (array)"]
    pd.testing.assert_frame_equal(pd.DataFrame(issues), pd.DataFrame(dict(issues)), check_frame_type=False)
    assert issues._repr_html_().count("data:image/jpeg;base64,") == 2
    empty = find_issues(photos[:2], backbone="tiny_test", cache=None, checks=["exact_duplicate"])
    assert isinstance(empty, PhotoTable) and empty.empty and list(empty.columns) == list(COLUMNS)
