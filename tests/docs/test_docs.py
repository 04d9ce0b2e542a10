"""Every fenced code block in README.md and docs/*.md is executed, or fenced as not executed.

- ```python blocks run with ``exec``, one namespace per page, in page order;
- ```bash blocks hold only ``neuronedit ...`` commands, each run through the console script's
  ``main`` (in process, so the libraries load once) and required to exit 0;
- ```text and ```<anything>-noexec blocks are not run (a GPU cluster, a 70B model, a run of many
  minutes); any other fence tag, or none, fails ``test_every_block_is_executed_or_fenced_as_not``.

Each page runs in its own empty working folder, so files written by one block (a scores file, a
checkpoint) are there for the page's later blocks. Pages whose blocks use the demo model are marked
slow; the others run in every test run. A page that calls a deprecated name (a DeprecationWarning
attributed to the page's code) fails. The fast tests also compile every python block and parse every
`neuronedit` command shown, run or not, with the real argument parser, failing on a deprecated flag
spelling too, so a renamed flag is caught without the demo model.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shlex
import shutil
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest
from locations import REPO

ROOT = REPO
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
EXECUTED = {"python", "bash"}
NOT_EXECUTED = {"text"}  # and every tag ending in "-noexec"
FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})(.*)$")


@dataclass(frozen=True)
class Block:
    page: Path
    line: int  # 1-based line of the opening fence
    lang: str
    code: str

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"

    @property
    def executed(self) -> bool:
        return self.lang in EXECUTED


def is_not_executed(lang: str) -> bool:
    return lang in NOT_EXECUTED or lang.endswith("-noexec")


def _closes(line: str, fence: str) -> bool:
    text = line.strip()
    return len(text) >= len(fence) and set(text) == {fence[0]}


def read_blocks(page: Path) -> list[Block]:
    """The fenced blocks of a Markdown page, in order (an unclosed fence is an error)."""
    blocks: list[Block] = []
    lines = page.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        fence, info, start = match.group(1), match.group(2).split(), i
        lang = info[0] if info else ""
        body: list[str] = []
        i += 1
        while i < len(lines) and not _closes(lines[i], fence):
            body.append(lines[i])
            i += 1
        if i == len(lines):
            raise AssertionError(f"{page.relative_to(ROOT)}:{start + 1}: the fence is never closed")
        blocks.append(Block(page, start + 1, lang, "\n".join(body) + "\n"))
        i += 1
    return blocks


def commands(block: Block) -> list[list[str]]:
    """The command lines of a bash block (continuations joined, comments dropped), as argv lists."""
    joined = re.sub(r"\\\n", " ", block.code)
    argvs = []
    for line in joined.splitlines():
        argv = shlex.split(line, comments=True)
        if not argv:
            continue
        assert argv[0] == "neuronedit", (
            f"{block.where}: a bash block runs only `neuronedit ...` commands, not {line.strip()!r}; "
            "fence other shell lines as text or console-noexec")
        argvs.append(argv[1:])
    assert argvs, f"{block.where}: a bash block without commands"
    return argvs


def uses_demo_model(blocks: list[Block]) -> bool:
    return any(b.executed and "demo" in b.code for b in blocks)


def cli_main() -> Callable[[list[str]], Any]:
    """The function behind the `neuronedit` console script (whatever module it lives in)."""
    (script,) = [e for e in entry_points(group="console_scripts") if e.name == "neuronedit"]
    return script.load()


def run_cli(argv: list[str]) -> int:
    try:
        code = cli_main()(argv)
    except SystemExit as exit_:  # argparse: --help, or a bad argument
        code = exit_.code
    return 0 if code is None else int(code) if isinstance(code, int) else 1


ALL_BLOCKS = [block for page in PAGES for block in read_blocks(page)]


def test_pages_exist_and_readme_links_every_page():
    names = {p.name for p in PAGES if p.parent.name == "docs"}
    expected = {"README.md", "concepts.md", "data-and-metrics.md", "locating.md", "editing.md", "transfer.md",
                "unlearning.md", "scaling.md", "command-line.md", "errors.md", "comparing.md", "explaining.md",
                "ground-truth.md"}
    assert expected <= names, f"missing docs pages: {sorted(expected - names)}"
    readme, index = (ROOT / "README.md").read_text(), (ROOT / "docs" / "README.md").read_text()
    for name in sorted(expected - {"README.md"}):
        assert f"docs/{name}" in readme, f"README.md does not link docs/{name}"
        assert f"]({name})" in index, f"docs/README.md does not link {name}"
    assert len(readme.splitlines()) < 250
    assert (ROOT / "docs" / "transfer_heatmap.png").is_file()


def _anchors(page: Path) -> set[str]:
    """GitHub's heading ids: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"^```.*?^```", "", page.read_text(encoding="utf-8"), flags=re.DOTALL | re.MULTILINE)
    headings = re.findall(r"^#{1,6}\s+(.*?)\s*$", text, flags=re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in headings}


def test_links_resolve():
    for page in PAGES:
        for target, anchor in re.findall(r"\]\(([^)#\s]*)(?:#([^)\s]*))?\)", page.read_text(encoding="utf-8")):
            if "://" in target:
                continue
            path = (page.parent / target).resolve() if target else page
            assert path.exists(), f"{page.relative_to(ROOT)}: broken link {target}"
            if anchor:
                assert anchor in _anchors(path), (
                    f"{page.relative_to(ROOT)}: no heading #{anchor} in {target or page.name}")


def test_every_block_is_executed_or_fenced_as_not():
    bad = [f"{b.where}: fence tag {b.lang!r}" for b in ALL_BLOCKS if not (b.executed or is_not_executed(b.lang))]
    assert not bad, ("every code block must be run (```python, ```bash) or fenced as not run "
                     "(```text, ```<lang>-noexec):\n" + "\n".join(bad))
    assert sum(b.executed for b in ALL_BLOCKS) >= 20, "the block parser found too few executed blocks"


def shown_commands(block: Block) -> list[list[str]]:
    """The complete `neuronedit ...` lines of a block that is not run (no placeholders like `[--x]` or `...`)."""
    argvs = []
    for line in re.sub(r"\\\n", " ", block.code).splitlines():
        if not line.startswith("neuronedit ") or "[" in line or "..." in line:
            continue
        try:
            argvs.append(shlex.split(line, comments=True)[1:])
        except ValueError:
            continue
    return argvs


def test_python_blocks_compile_and_commands_parse():
    """Without the demo model: python blocks compile, and every `neuronedit` command shown, run or
    not, parses with the real argument parser (so a renamed flag fails here)."""
    from neuronedit.cli import build_parser

    parser = build_parser()
    parsed = 0
    for block in ALL_BLOCKS:
        if block.lang == "python":
            compile(block.code, block.where, "exec")
        argvs = commands(block) if block.lang == "bash" else shown_commands(block)
        for argv in argvs:
            if "--help" in argv or "-h" in argv:
                continue
            said = io.StringIO()
            try:
                with contextlib.redirect_stderr(said):
                    parser.parse_args(argv)
            except SystemExit:
                pytest.fail(f"{block.where}: `neuronedit {shlex.join(argv)}` does not parse: {said.getvalue()}")
            assert not said.getvalue(), f"{block.where}: `neuronedit {shlex.join(argv)}`: {said.getvalue()}"
            parsed += 1
    assert parsed >= 15


def _page_params() -> list[Any]:
    params = []
    for page in PAGES:
        blocks = read_blocks(page)
        if any(b.executed for b in blocks):
            marks = [pytest.mark.slow] if uses_demo_model(blocks) else []
            params.append(pytest.param(page, marks=marks, id=str(page.relative_to(ROOT))))
    return params


@pytest.mark.parametrize("page", _page_params())
def test_page_runs(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, restore_registry: None) -> None:
    blocks = [b for b in read_blocks(page) if b.executed]
    if uses_demo_model(blocks) and os.environ.get("NEURONEDIT_SKIP_DEMO") == "1":
        pytest.skip("NEURONEDIT_SKIP_DEMO=1")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    monkeypatch.chdir(tmp_path)
    namespace: dict[str, Any] = {"__name__": "__docs__"}
    timings = []
    try:
        # a deprecated name called from a page (the warning points at the caller, module "__docs__") fails
        warnings.filterwarnings("error", category=DeprecationWarning, module="__docs__")
        for block in blocks:
            start = time.perf_counter()
            if block.lang == "python":
                exec(compile(block.code, block.where, "exec"), namespace)
            else:
                for argv in commands(block):
                    code = run_cli(argv)
                    assert code == 0, f"{block.where}: `neuronedit {shlex.join(argv)}` exited with {code}"
            timings.append(f"{block.where} {time.perf_counter() - start:.1f} s")
    finally:
        plt.close("all")
    print("\n".join(timings))
    monkeypatch.chdir(ROOT)
    shutil.rmtree(tmp_path, ignore_errors=True)  # the pages write checkpoints of 0.5 GB each; kept only on failure
