"""The command line's parser: cheap to build, one spelling per option."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from locations import REPO

from neuronedit.cli import COMMANDS, build_parser

ROOT = REPO


def _help(command: str) -> str:
    parser = build_parser()
    return parser._subparsers._group_actions[0].choices[command].format_help()  # type: ignore[union-attr]


def test_every_command_has_its_module():
    names = [module.__name__.rsplit(".", 1)[1] for module in COMMANDS]
    assert names == ["models", "demo", "evaluate", "attribute", "explain", "edit", "apply", "transfer", "compare",
                     "unlearn", "plant", "recovery", "data"]
    for module in COMMANDS:
        source = Path(module.__file__).read_text()  # type: ignore[arg-type]
        assert len(source.splitlines()) < 300, module.__name__


def test_transfer_and_edit_spell_their_options_alike(capsys):
    parser = build_parser()
    new = parser.parse_args(["transfer", "--top-k", "3", "--mode", "mean", "--out", "x"])
    assert (new.top_k, new.mode) == (3, "mean")
    default = parser.parse_args(["transfer", "--out", "x"])
    assert (default.top_k, default.mode) == (50, "zero")
    edit = parser.parse_args(["edit", "--top-k", "3", "--mode", "zero", "--out", "x"])
    assert (edit.top_k, edit.mode) == (3, "zero")
    shown = _help("transfer")
    assert "--top-k" in shown and "--mode" in shown and "--k " not in shown and "--edit" not in shown
    for old in (["--edit", "mean"], ["--k", "3"]):  # the old spellings are gone
        with pytest.raises(SystemExit):
            parser.parse_args(["transfer", *old, "--out", "x"])
    with pytest.raises(SystemExit):
        parser.parse_args(["transfer", "--top-k", "0", "--out", "x"])


def test_building_the_parser_imports_no_torch():
    """``neuronedit --help`` starts in a blink: the package faces load their names lazily, and the
    parser needs only light modules (``attributions.registry`` among them, which imports no torch)."""
    code = (
        "import sys\n"
        "import neuronedit.cli\n"
        "neuronedit.cli.build_parser().parse_args(['transfer', '--out', 'x'])\n"
        "print(sorted(m for m in ('torch', 'transformers', 'pandas', 'numpy') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize("argv", [["edit", "--mode", "bogus", "--out", "x"], ["bogus"],
                                  ["edit", "--out", "x", "--top-k"],
                                  ["evaluate", "--n-boot", "3", "--data", "probes:gender"], ["transfer"]])
def test_a_refused_argument_is_one_line_with_the_fix(argv, capsys):
    from neuronedit.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(argv)
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and len(err.strip().splitlines()) == 1, err
    assert "error:" in err and "--help`" in err and "usage:" not in err, err
