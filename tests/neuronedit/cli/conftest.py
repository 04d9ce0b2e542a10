"""Fixtures of the command-line tests: a tiny checkpoint, its fingerprint, and `neuronedit` run in process."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from tiny_models import tiny_model_dir

from attributions import weights_fingerprint
from neuronedit.cli import main


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny Llama of ``tiny_models`` saved as a checkpoint folder (one per test module)."""
    return tiny_model_dir(tmp_path_factory.mktemp("model") / "tiny")


@pytest.fixture(scope="module")
def fingerprint(model_dir: Path) -> str:
    from transformers import AutoModelForCausalLM

    return weights_fingerprint(AutoModelForCausalLM.from_pretrained(model_dir))


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str]) -> Callable[[list[str]], tuple[int, str]]:
    """Exit code and stderr + stdout of ``neuronedit ARGV`` in this process (a traceback fails the test)."""

    def run(argv: list[str]) -> tuple[int, str]:
        try:
            code = main(argv)
        except SystemExit as exit_:  # argparse refuses a value
            code = int(exit_.code or 0)
        captured = capsys.readouterr()
        return code, captured.err + captured.out

    return run
