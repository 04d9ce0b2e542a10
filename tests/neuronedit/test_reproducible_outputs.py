"""Two runs with the same inputs write byte-identical files; their durations go to ``timings.json`` only
(the rule: :mod:`attributions.timings`). A fake wall clock that ticks at a different rate in each run makes
any date or duration left in an output show up as a difference."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import pytest
from tiny_models import tiny_lm, tiny_model_dir

from attributions import NeuronSet
from attributions.timings import TIMINGS_NAME
from neuronedit.analysis import domains_from, transfer_matrix
from neuronedit.data.neutral import heldout_corpus
from neuronedit.explain import explain_domains
from neuronedit.report.plots import save_figure
from neuronedit.report.transfer import write_report


def _clock(monkeypatch: pytest.MonkeyPatch, step: float) -> None:
    """``time.time`` and ``time.gmtime()`` advance ``step`` seconds per reading."""
    now = [1.7e9]
    real_gmtime = time.gmtime

    def fake() -> float:
        now[0] += step
        return now[0]

    monkeypatch.setattr(time, "time", fake)
    monkeypatch.setattr(time, "gmtime", lambda secs=None: real_gmtime(fake() if secs is None else secs))


def _files(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` but the timings, by relative path."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != TIMINGS_NAME}


def _twice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, write: Any) -> tuple[Path, Path]:
    """``write(out)`` into two folders, under clocks ticking at different rates; asserts equal bytes."""
    outs = []
    for name, step in (("a", 0.25), ("b", 7.5)):
        with monkeypatch.context() as patch:
            _clock(patch, step)
            write(tmp_path / name)
        outs.append(tmp_path / name)
    first, second = (_files(out) for out in outs)
    assert first.keys() == second.keys()
    assert [name for name in first if first[name] != second[name]] == []
    return outs[0], outs[1]


def _timings(out: Path) -> dict[str, Any]:
    timings = json.loads((out / TIMINGS_NAME).read_text())
    assert isinstance(timings, dict)
    return timings


def _figure() -> Any:
    fig, ax = plt.subplots(figsize=(2, 2))
    ax.imshow([[0.0, 1.0], [1.0, 0.0]], cmap="RdBu_r")  # images and clipped axes get ids in the SVG
    ax.plot([0, 1], [1, 0])
    ax.text(0, 0, "+1.0*")
    return fig


def test_a_figure_saved_twice_gives_the_same_svg_and_png(tmp_path, monkeypatch):
    def write(out: Path) -> None:
        fig = _figure()
        assert [p.suffix for p in save_figure(fig, out / "figure")] == [".png", ".svg"]
        plt.close(fig)

    first, _ = _twice(tmp_path, monkeypatch, write)
    assert b"<dc:date>" not in (first / "figure.svg").read_bytes()


def test_an_edit_checkpoint_is_byte_identical(tmp_path, monkeypatch, cli_in_process):
    model = str(tiny_model_dir(tmp_path / "m"))
    NeuronSet([(0, 1), (1, 2)]).save(tmp_path / "n.json")

    def edit(out: Path) -> None:
        done = cli_in_process("edit", "--model", model, "--neurons", str(tmp_path / "n.json"), "--force", "--out",
                              str(out))
        assert done.returncode == 0, done.stderr

    first, _ = _twice(tmp_path, monkeypatch, edit)
    assert "created" not in json.loads((first / "neuronedit.json").read_text())


def test_an_unlearning_checkpoint_is_byte_identical_and_timed_apart(tmp_path, monkeypatch, cli_in_process):
    model = str(tiny_model_dir(tmp_path / "m"))
    NeuronSet([(0, 1), (1, 2)]).save(tmp_path / "n.json")

    def unlearn(out: Path) -> None:
        done = cli_in_process("unlearn", "--model", model, "--forget", "probes:gender", "--neurons",
                              str(tmp_path / "n.json"), "--lr", "1e-2", "--steps", "2", "--batch-size", "4",
                              "--eval-every", "2", "--quiet", "--out", str(out))
        assert done.returncode == 0, done.stderr

    first, second = _twice(tmp_path, monkeypatch, unlearn)
    (edit_,) = json.loads((first / "neuronedit.json").read_text())["edits"]
    assert "seconds" not in edit_["provenance"] and edit_["provenance"]["stopped"]
    seconds = [_timings(out)["neuronedit.json"]["edits"]["0"]["provenance"]["seconds"] for out in (first, second)]
    assert 0 < seconds[0] < seconds[1]  # the second clock ticks faster


def test_transfer_report_is_byte_identical_and_its_timings_are_apart(tmp_path, monkeypatch):
    lm = tiny_lm(seed=2)
    domains = domains_from(["gender"], "probes", others=False, max_items=8)
    result = transfer_matrix(lm, domains, k=2, dose=(), n_boot=20, log=None, ppl_text=heldout_corpus(),
                             ppl_tokens=200, objective="auto", selection="top")
    explained = explain_domains(lm, {"gender": result.selected["gender"]}, max_tokens=200, n_top=2, n_boot=20)
    assert "seconds" in result.settings and "seconds" in explained["gender"].meta  # measured, kept in memory
    runs = iter([1.5, 42.0])

    def write(out: Path) -> None:  # the same result, as a slower run would have timed it
        seconds = next(runs)
        timed = replace(result, settings={**result.settings, "seconds": seconds})
        explanation = replace(explained["gender"], meta={**explained["gender"].meta, "seconds": seconds})
        write_report(timed, out, command="neuronedit transfer", explanations={"gender": explanation})

    first, second = _twice(tmp_path, monkeypatch, write)
    results = json.loads((first / "results.json").read_text())
    assert "seconds" not in results["settings"] and "seconds" not in (first / "report.html").read_text()
    assert "seconds" not in json.loads((first / "explain.json").read_text())["gender"]["meta"]
    for out, seconds in ((first, 1.5), (second, 42.0)):
        timings = _timings(out)
        assert timings["results.json"] == {"settings": {"seconds": seconds}}
        assert timings["explain.json"] == {"gender": {"meta": {"seconds": seconds}}}


def test_a_comparison_folder_is_byte_identical(tmp_path, monkeypatch, cli_in_process):
    model = str(tiny_model_dir(tmp_path / "m"))

    def compare(out: Path) -> None:
        done = cli_in_process("compare", "--methods", "neurons,random", "--model", model, "--data", "probes",
                              "--max-items", "6", "--ppl-tokens", "200", "--n-boot", "20", "--top-k", "4", "--rule",
                              "top", "--out", str(out), "--quiet")
        assert done.returncode == 0, done.stderr

    first, _ = _twice(tmp_path, monkeypatch, compare)
    settings = _timings(first)["comparison.json"]["settings"]
    assert settings["seconds"] > 0 and settings["fitted"]["gender/neurons"]["fit_seconds"] >= 0
    assert "seconds" not in (first / "comparison_table.csv").read_text()


def test_an_explain_folder_is_byte_identical(tmp_path, monkeypatch, cli_in_process):
    model = str(tiny_model_dir(tmp_path / "m"))
    NeuronSet([(0, 1), (1, 2), (1, 5)]).save(tmp_path / "n.json")

    def explain(out: Path) -> None:
        done = cli_in_process("explain", "--model", model, "--neurons", str(tmp_path / "n.json"), "--tokens", "200",
                              "--n-top", "2", "--out", str(out), "--quiet")
        assert done.returncode == 0, done.stderr

    first, _ = _twice(tmp_path, monkeypatch, explain)
    assert _timings(first)["explain.json"]["meta"]["seconds"] > 0
