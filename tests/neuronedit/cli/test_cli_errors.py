"""The edge of the command line: a toolkit error is one line and exit 2; any other exception is a bug
and keeps its traceback."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from attributions.errors import InputError
from neuronedit.cli import main, models


def test_a_toolkit_error_from_a_handler_is_one_line_and_exit_2(monkeypatch, run_cli):
    def refuse(args):
        raise InputError("--data nowhere.csv: no such file; check the path")

    monkeypatch.setattr(models, "run", refuse)
    code, out = run_cli(["models"])
    assert code == 2 and "Traceback" not in out
    assert out.strip().splitlines() == ["neuronedit models: error: --data nowhere.csv: no such file; check the path"]


@pytest.mark.parametrize("bug", [ValueError("bug"), TypeError("bug"), KeyError("bug")])
def test_an_unexpected_exception_from_a_handler_propagates(bug, monkeypatch):
    def broken(args):
        raise bug

    monkeypatch.setattr(models, "run", broken)
    with pytest.raises(type(bug), match="bug"):
        main(["models"])


def test_a_bug_shows_its_traceback_and_exits_1():
    code = ("import sys\n"
            "from neuronedit.cli import main, models\n"
            "def broken(args):\n"
            "    raise ValueError('bug in the handler')\n"
            "models.run = broken\n"
            "sys.exit(main(['models']))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 1
    assert "Traceback" in done.stderr and "ValueError: bug in the handler" in done.stderr


def test_a_device_map_file_that_is_not_json_is_an_input_error(tmp_path):
    from neuronedit.cli.args import load_placed

    bad = tmp_path / "map.json"
    bad.write_text("{bad")
    with pytest.raises(InputError, match=r"map.json is not valid JSON .*device map \(--device-map\)"):
        load_placed(argparse.Namespace(model="unused", device_map=str(bad)))
