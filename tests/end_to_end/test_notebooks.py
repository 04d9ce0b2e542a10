"""The notebooks are committed executed: their outputs must come from their current cells (checked in
every run, from the source hash `make notebooks` stores), and they must still execute on the demo model
(slow: on a few items, into a temporary folder, with the kinds of outputs committed)."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from types import ModuleType

import nbformat
import pytest
from locations import REPO

NOTEBOOKS = REPO / "notebooks"
SMALL = 4  # items per suite in the executing test: the fewest that still give every output


def _runner() -> ModuleType:
    """``notebooks/execute.py``, the script behind `make notebooks`."""
    spec = importlib.util.spec_from_file_location("notebook_execute", NOTEBOOKS / "execute.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


runner = _runner()
# text each notebook prints, files it writes into its working folder, and whether it shows figures
EXPECTED = {
    "01_attribute_biased_completion.ipynb": (["top 10 zeroed", "layer", "of 5 gender neurons, "], [], True),
    "02_apply_neuron_mask.ipynb": (["max |logit difference|", "gender probes"], ["edited-demo/neuronedit.json"],
                                   False),
    "03_transfer_heatmap.ipynb": (["Removing 50 gender neurons", "spearman", "knowledge kept"],
                                  ["transfer_heatmap.png"], True),
}


def check(path: Path) -> None:
    """Fail unless the notebook's outputs are those of its current cells."""
    found = runner.problems(nbformat.read(path, as_version=4))
    assert not found, f"{path.name}: " + "; ".join(found) + f": {runner.RERUN}"


def _texts(notebook: nbformat.NotebookNode) -> str:
    return "".join(o.get("text", "") + o.get("data", {}).get("text/plain", "")
                   for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs)


def _kinds(notebook: nbformat.NotebookNode) -> list[set[str]]:
    """Per code cell, the kinds of its outputs (stdout, image/png, text/html, ...), stderr left out."""
    def kind(output: nbformat.NotebookNode) -> set[str]:
        return {output.name} if output.output_type == "stream" else set(output.get("data", {})) or {output.output_type}

    return [set().union(*map(kind, cell.outputs)) - {"stderr"} for cell in notebook.cells if cell.cell_type == "code"]


def test_every_notebook_is_expected():
    assert [path.name for path in runner.notebooks()] == list(EXPECTED)


@pytest.mark.parametrize("name", EXPECTED)
def test_committed_outputs_come_from_the_current_cells(name):
    check(NOTEBOOKS / name)
    shown = set().union(*_kinds(nbformat.read(NOTEBOOKS / name, as_version=4)))
    assert ("image/png" in shown) == EXPECTED[name][2], "figures shown inline (a plotting import may switch to Agg)"


@pytest.mark.parametrize("name", EXPECTED)
def test_committed_outputs_hold_no_local_paths(name):
    local = ("site-packages", str(REPO), str(Path.home()))
    lines = (NOTEBOOKS / name).read_text(encoding="utf-8").splitlines()
    assert [line.strip() for line in lines if any(folder in line for folder in local)] == []


@pytest.mark.parametrize("cell_type", ["code", "markdown"])
def test_the_check_fails_when_a_cell_changes(tmp_path, cell_type):
    notebook = nbformat.read(NOTEBOOKS / "01_attribute_biased_completion.ipynb", as_version=4)
    cell = [cell for cell in notebook.cells if cell.cell_type == cell_type][-1]
    cell.source += "\n# edited"
    nbformat.write(notebook, tmp_path / "edited.ipynb")
    with pytest.raises(AssertionError, match=r"a cell changed after the outputs were made: re-run `make notebooks`"):
        check(tmp_path / "edited.ipynb")


@pytest.mark.parametrize("counts", ["cleared", "kept"])
def test_the_check_fails_without_outputs(tmp_path, counts):
    """Outputs stripped as `jupyter nbconvert --clear-output` does (counts cleared too), or outputs only."""
    notebook = nbformat.read(NOTEBOOKS / "01_attribute_biased_completion.ipynb", as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            if counts == "cleared":
                cell.execution_count = None
    nbformat.write(notebook, tmp_path / "stripped.ipynb")
    message = "were not executed once each" if counts == "cleared" else "cell 1 has no outputs"
    with pytest.raises(AssertionError, match=message + r".*re-run `make notebooks`"):
        check(tmp_path / "stripped.ipynb")


def test_the_check_fails_on_an_error_output(tmp_path):
    notebook = nbformat.read(NOTEBOOKS / "01_attribute_biased_completion.ipynb", as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    code[-1].outputs = [nbformat.v4.new_output("error", ename="NameError", evalue="name 'x' is not defined")]
    nbformat.write(notebook, tmp_path / "failed.ipynb")
    with pytest.raises(AssertionError, match="raised NameError"):
        check(tmp_path / "failed.ipynb")


@pytest.mark.slow
@pytest.mark.parametrize("name", EXPECTED)
def test_notebook_executes_on_a_few_items(name, tmp_path):
    """The committed cells still run on the demo model and give the committed kinds of outputs."""
    if os.environ.get("NEURONEDIT_SKIP_DEMO") == "1":
        pytest.skip("NEURONEDIT_SKIP_DEMO=1")
    executed = runner.execute(NOTEBOOKS / name, tmp_path, items=SMALL)
    runner.write(executed, tmp_path / name)
    check(tmp_path / name)
    assert _kinds(executed) == _kinds(nbformat.read(NOTEBOOKS / name, as_version=4))
    texts, files, _ = EXPECTED[name]
    assert [text for text in texts if text not in _texts(executed)] == []
    assert [file for file in files if not (tmp_path / file).is_file()] == []
