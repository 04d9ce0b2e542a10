"""lm-evaluation-harness on an edit held in memory: the harness's numbers equal ``neuronedit evaluate``'s
on the same items, item by item, offline, through the registered ``neuronedit`` model type, its
command line and :func:`harness_model`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from harness_tasks import write_pairs_task
from locations import REPO
from tiny_models import tiny_model_dir

pytest.importorskip("lm_eval")

from attributions import NeuronSet
from neuronedit import evaluate, load_model, masked
from neuronedit.data import Dataset, load

TEMPLATES = ["the {} said that {} was home", "the {} was lazy and {} was at work", "{} lived in paris with the {}"]
JOBS = ["nurse", "engineer", "doctor", "secretary", "mechanic"]
NEURONS = NeuronSet([(0, 3), (0, 17), (1, 5), (1, 40)])


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("HF_DATASETS_OFFLINE", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.setenv(name, "1")
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "datasets-cache"))


def _crows_file(path: Path) -> Path:
    rows = ["index,sent_more,sent_less,stereo_antistereo,bias_type"]
    for i, (template, job) in enumerate((t, j) for t in TEMPLATES for j in JOBS):
        a, b = (job, "she") if "{} said" in template or "{} was lazy" in template else ("she", job)
        more = template.format(a, b)
        rows.append(f"{i},{more},{more.replace('she', 'he')},stereo,gender")
    path.write_text("\n".join(rows) + "\n")
    return path


def _task(folder: Path, items: Dataset) -> str:
    """A local multiple-choice task over ``items``: choice 0 is the more-biased side (harness accuracy =
    share of pairs whose more-biased side has the higher log-likelihood)."""
    return write_pairs_task(folder, [(i.more, i.less) for i in items])


def _harness(model, folder: Path) -> tuple[float, np.ndarray]:
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    out = simple_evaluate(model=model, tasks=["neuronedit_pairs"], task_manager=TaskManager(include_path=str(folder)),
                          log_samples=True, num_fewshot=0)
    samples = sorted(out["samples"]["neuronedit_pairs"], key=lambda s: s["doc_id"])
    gaps = np.array([s["filtered_resps"][0][0] - s["filtered_resps"][1][0] for s in samples])
    return 100 * out["results"]["neuronedit_pairs"]["acc,none"], gaps


def _ours(lm, items: Dataset) -> tuple[float, np.ndarray]:
    result = evaluate(lm, [items], n_boot=10, progress=False).results[0]
    return result.intervals["score"].value, result.data["gap"]


def test_registered_model_with_neurons_equals_evaluate(tmp_path: Path) -> None:
    from neuronedit.harness import NeuronEditHarnessLM

    checkpoint = tiny_model_dir(tmp_path / "tiny")
    neurons = tmp_path / "neurons.json"
    NEURONS.save(neurons)
    items = load(f"crows:{_crows_file(tmp_path / 'pairs.csv')}")
    _task(tmp_path, items)
    lm = load_model(str(checkpoint))
    with masked(lm, NEURONS):
        score, gaps = _ours(lm, items)
    plain_score, plain_gaps = _ours(lm, items)
    harness = NeuronEditHarnessLM(pretrained=str(checkpoint), neurons=str(neurons), batch_size=4)
    try:
        acc, harness_gaps = _harness(harness, tmp_path)
    finally:
        harness.close()
    assert np.abs(gaps).min() > 1e-3  # no ties: the harness's argmax and our score count the same pairs
    assert harness_gaps == pytest.approx(gaps, abs=1e-4)
    assert acc == pytest.approx(score)
    assert np.abs(plain_gaps - gaps).max() > 1e-3  # the mask moved the gaps: the comparison bites
    del plain_score


def test_command_line_runs_offline_with_the_edit(tmp_path: Path) -> None:
    checkpoint = tiny_model_dir(tmp_path / "tiny")
    neurons = tmp_path / "neurons.json"
    NEURONS.save(neurons)
    items = load(f"crows:{_crows_file(tmp_path / 'pairs.csv')}")
    _task(tmp_path, items)
    lm = load_model(str(checkpoint))
    with masked(lm, NEURONS):
        score, _ = _ours(lm, items)
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "neuronedit.harness", "run", "--model", "neuronedit", "--model_args",
                           f"pretrained={checkpoint},neurons={neurons}", "--tasks", "neuronedit_pairs",
                           "--include_path", str(tmp_path), "--output_path", str(tmp_path / "results")],
                          capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    (written,) = (tmp_path / "results").rglob("results_*.json")
    acc = json.loads(written.read_text())["results"]["neuronedit_pairs"]["acc,none"]
    assert 100 * acc == pytest.approx(score)


@pytest.mark.slow
def test_demo_model_on_bundled_winobias_under_a_mask(tmp_path: Path, demo_lm) -> None:
    from neuronedit.harness import harness_model

    test = load("winobias", split="test")
    items = Dataset(list(test[:40]), kind=test.kind, spec=test.spec, bias_type=test.bias_type, split=test.split)
    _task(tmp_path, items)
    neurons = NeuronSet([(layer, n) for layer in (10, 20) for n in range(0, 1536, 40)])
    with masked(demo_lm, neurons):
        score, gaps = _ours(demo_lm, items)
        acc, harness_gaps = _harness(harness_model(demo_lm, batch_size=8), tmp_path)
    assert harness_gaps == pytest.approx(gaps, abs=2e-3)
    assert acc == pytest.approx(score)
