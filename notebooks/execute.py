"""Execute the notebooks and commit their outputs: ``make notebooks`` (``python notebooks/execute.py``).

Each notebook runs with nbclient in a fresh temporary folder (the files it writes, such as the edited
checkpoint, are thrown away) against the packages of this checkout, and its outputs are written into
the ``.ipynb`` in place, atomically. Volatile metadata (timings, kernel version) is dropped, and the
SHA-256 of the cell sources goes into ``metadata["neuronedit"]["source_sha256"]``: ``problems`` tells
whether a notebook's committed outputs came from its current sources.

    python notebooks/execute.py [NOTEBOOK ...] [--stale]
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import os
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbformat import NotebookNode

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
ITEMS_VARIABLE = "NEURONEDIT_NOTEBOOK_ITEMS"  # the notebooks' size; unset: the committed size
RERUN = "re-run `make notebooks`"
KEPT_LANGUAGE_INFO = ("name", "mimetype", "file_extension", "pygments_lexer", "codemirror_mode", "nbconvert_exporter")


def notebooks() -> list[Path]:
    """The notebooks of this folder, in order."""
    return sorted(HERE.glob("*.ipynb"))


def source_sha256(notebook: NotebookNode) -> str:
    """SHA-256 of every cell's type and source, in order (outputs and metadata left out)."""
    cells = [[cell.cell_type, cell.source] for cell in notebook.cells]
    return hashlib.sha256(json.dumps(cells, ensure_ascii=False).encode("utf-8")).hexdigest()


def _should_print(source: str) -> bool:
    """Whether a code cell shows something: it calls ``print`` or ends with an expression (magics ignored)."""
    tree = ast.parse("\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))))
    calls_print = any(isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print"
                      for node in ast.walk(tree))
    return calls_print or bool(tree.body and isinstance(tree.body[-1], ast.Expr))


def problems(notebook: NotebookNode) -> list[str]:
    """Why the notebook's outputs are not those of executing its current sources top to bottom ([] if they are)."""
    found = []
    stored = notebook.metadata.get("neuronedit", {}).get("source_sha256")
    if stored is None:
        found.append("no source hash in its metadata: it was not executed by `make notebooks`")
    elif stored != source_sha256(notebook):
        found.append("a cell changed after the outputs were made")
    code = [(index, cell) for index, cell in enumerate(notebook.cells) if cell.cell_type == "code"]
    if [cell.execution_count for _, cell in code] != list(range(1, len(code) + 1)):
        found.append("its code cells were not executed once each, top to bottom "
                     f"(execution counts {[cell.execution_count for _, cell in code]})")
    for index, cell in code:
        errors = [output for output in cell.outputs if output.output_type == "error"]
        if errors:
            found.append(f"cell {index} raised {errors[0].ename}: {errors[0].evalue}")
        elif not cell.outputs and _should_print(cell.source):
            found.append(f"cell {index} has no outputs")
    return found


def _tidy(notebook: NotebookNode, workdir: Path) -> None:
    """Drop what changes from run to run or machine to machine without a change in the notebook:
    timings, versions, and this machine's folders in printed text (warnings name their files)."""
    info = notebook.metadata.get("language_info", {})
    notebook.metadata["language_info"] = {key: info[key] for key in KEPT_LANGUAGE_INFO if key in info}
    folders = [str(workdir.resolve()), str(workdir), str(REPO), sysconfig.get_paths()["purelib"], sys.prefix]
    for cell in notebook.cells:
        cell.metadata.pop("execution", None)
        for output in cell.get("outputs", []):
            if output.output_type == "stream":
                for folder in folders:
                    output.text = output.text.replace(folder + os.sep, "")
    notebook.metadata["neuronedit"] = {"source_sha256": source_sha256(notebook)}


def execute(path: Path, workdir: Path, items: int | None = None, timeout: int | None = 3600) -> NotebookNode:
    """The notebook at ``path`` executed in ``workdir`` (``items``: its size, else the committed one;
    ``timeout``: seconds per cell, None for no limit).

    Raises:
        nbclient.exceptions.CellExecutionError: a cell raised; the notebook file is left as it was.
    """
    notebook = nbformat.read(path, as_version=4)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
               TQDM_DISABLE="1", MPLBACKEND="module://matplotlib_inline.backend_inline",
               PYTHONWARNINGS="ignore:IProgress not found")  # tqdm.auto without ipywidgets
    env.pop(ITEMS_VARIABLE, None)
    if items is not None:
        env[ITEMS_VARIABLE] = str(items)
    client = NotebookClient(notebook, timeout=timeout, kernel_name="python3", record_timing=False,
                            resources={"metadata": {"path": str(workdir)}})
    client.execute(env=env)
    _tidy(notebook, workdir)
    return notebook


def write(notebook: NotebookNode, path: Path) -> None:
    """Write ``notebook`` to ``path`` atomically (a temporary file in the same folder, then a rename)."""
    nbformat.validate(notebook)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=".ipynb")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            nbformat.write(notebook, file)
        os.chmod(temporary, path.stat().st_mode if path.exists() else 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", type=Path, help="notebooks to run (default: all in notebooks/)")
    parser.add_argument("--stale", action="store_true", help="only those whose outputs do not match their sources")
    args = parser.parse_args(argv)
    paths = [path.resolve() for path in args.paths] or notebooks()
    if args.stale:
        paths = [path for path in paths if problems(nbformat.read(path, as_version=4))]
    for path in paths:
        start = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="neuronedit-notebook-") as workdir:
            notebook = execute(path, Path(workdir), timeout=None)  # a busy machine may take hours
        write(notebook, path)
        print(f"{path.name}: executed in {time.perf_counter() - start:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
