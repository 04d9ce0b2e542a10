"""Data parallelism under a real two-process gloo group, resumable attribution, and device maps."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from locations import REPO, TESTS
from tiny_models import tiny_model_dir

from attributions import NeuronScores, PairPreference, attribute, register_method
from attributions.methods import ATTRIBUTION_METHODS
from attributions.resume import CheckpointMismatch, PartialSums

HERE = TESTS  # dist_worker.py lives at the root of tests/
ROOT = REPO


def _env(threads: int) -> dict[str, str]:
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), PYTHONPATH=f"{HERE}{os.pathsep}{ROOT}")
    env.pop("WORLD_SIZE", None)
    return env


def _torchrun(*args: str, nproc: int = 2) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}", *args]


def _run(cmd: list[str], threads: int = 1) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(cmd, capture_output=True, text=True, env=_env(threads), cwd=HERE, timeout=600, check=False)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    return done


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_model_dir(tmp_path_factory.mktemp("dist") / "m")


def _close(a: torch.Tensor, b: torch.Tensor) -> None:
    """Within 1e-5 of the largest score; NaN (not scored) in the same places."""
    assert torch.equal(a.isnan(), b.isnan())
    scale = float(a.nan_to_num().abs().max())
    assert float((a - b).nan_to_num().abs().max()) <= 1e-5 * max(scale, 1e-12)


def test_two_process_gloo_equals_one_process(model_dir: Path, tmp_path: Path) -> None:
    _run([sys.executable, str(HERE / "dist_worker.py"), str(model_dir), str(tmp_path / "one")])
    _run(_torchrun(str(HERE / "dist_worker.py"), str(model_dir), str(tmp_path / "two")))
    one = torch.load(tmp_path / "one" / "rank0.pt", weights_only=False)
    ranks = [torch.load(tmp_path / "two" / f"rank{r}.pt", weights_only=False) for r in (0, 1)]
    assert one["world"] == 1 and [r["world"] for r in ranks] == [2, 2]
    for method in ("grad_x_act", "integrated_gradients", "activation", "ablation"):
        for single, first, second in zip(one[method], ranks[0][method], ranks[1][method]):
            _close(single, first)
            assert torch.equal(first.nan_to_num(), second.nan_to_num())  # every rank returns the same scores
    mask_one, mask_first, mask_second = one["learned_mask"], ranks[0]["learned_mask"], ranks[1]["learned_mask"]
    assert torch.equal(mask_first[0], mask_second[0]) and torch.equal(mask_first[1], mask_second[1])
    torch.testing.assert_close(mask_first[1], mask_one[1], rtol=1e-5, atol=1e-7)  # the same losses, step by step
    torch.testing.assert_close(mask_first[0], mask_one[0], rtol=0, atol=1e-4)
    assert len(one["evaluation"]) == len(ranks[0]["evaluation"]) == 10
    for single, first, second in zip(one["evaluation"], ranks[0]["evaluation"], ranks[1]["evaluation"]):
        assert single[:2] == first[:2] == second[:2]
        assert single[3] == first[3], f"{single[:2]}: decisions differ"
        assert repr(first) == repr(second)  # identical on both ranks (repr: NaN of skipped items equals NaN)
        for key, values in single[2].items():
            np.testing.assert_allclose(np.asarray(first[2][key], float), np.asarray(values, float), rtol=1e-6,
                                       atol=1e-5)
        for metric, (value, _, _) in single[4].items():
            assert first[4][metric][0] == pytest.approx(value, abs=1e-4, nan_ok=True)


def test_cli_attribute_under_torchrun_writes_once_and_matches(model_dir: Path, tmp_path: Path) -> None:
    args = ["attribute", "--model", str(model_dir), "--data", "probes:religion", "--split", "dev", "--limit", "16",
            "--objective", "pair", "--batch-size", "4", "--quiet"]
    _run([sys.executable, "-m", "neuronedit", *args, "--out", str(tmp_path / "one.safetensors")])
    done = _run(_torchrun("-m", "neuronedit", *args, "--out", str(tmp_path / "two.safetensors")))
    assert done.stdout.count("2 process(es) ->") == 1  # rank 0 alone reports and writes
    one, two = NeuronScores.load(tmp_path / "one.safetensors"), NeuronScores.load(tmp_path / "two.safetensors")
    assert two.meta["world_size"] == 2 and two.meta["n_examples"] == one.meta["n_examples"] == 16
    _close(one.scores, two.scores)
    assert one.control is not None and two.control is not None
    _close(one.control.scores, two.control.scores)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one.safetensors", "two.safetensors"]


def test_single_process_commands_refuse_torchrun(model_dir: Path, tmp_path: Path) -> None:
    env = dict(_env(1), WORLD_SIZE="2", RANK="0")
    done = subprocess.run([sys.executable, "-m", "neuronedit", "edit", "--model", str(model_dir), "--neurons", "x.json",
                           "--out", str(tmp_path / "e")], capture_output=True, text=True, env=env, cwd=HERE,
                          check=False)
    assert done.returncode == 2 and "launch it without torchrun" in done.stderr


# -- resumable runs ------------------------------------------------------------------------------

KILL_SCRIPT = """
import os, signal, sys
from attributions import PairPreference, attribute, register_method
from attributions.methods import ATTRIBUTION_METHODS
from neuronedit.data import load
from neuronedit.model.loading import load_model

calls = 0
def dying(*args, **kwargs):
    global calls
    calls += 1
    if calls > int(sys.argv[3]):
        os.kill(os.getpid(), signal.SIGKILL)  # as abrupt as a lost node: no cleanup runs
    return ATTRIBUTION_METHODS["grad_x_act"](*args, **kwargs)

register_method("counted", dying)
lm = load_model(sys.argv[1])
attribute(lm, PairPreference(list(load("probes:gender", split="dev"))[:20]), "counted", batch_size=4,
          checkpoint=sys.argv[2], checkpoint_every=2)
"""


def test_killed_run_resumes_to_the_same_scores(model_dir: Path, tmp_path: Path) -> None:
    from attributions.forward import group_rows
    from neuronedit.data import load
    from neuronedit.model.loading import load_model

    script = tmp_path / "kill.py"
    script.write_text(KILL_SCRIPT)
    ckpt = tmp_path / "ckpt"
    killed = subprocess.run([sys.executable, str(script), str(model_dir), str(ckpt), "5"], capture_output=True,
                            text=True, env=_env(2), cwd=HERE, timeout=600, check=False)
    assert killed.returncode == -signal.SIGKILL
    assert [p.name for p in ckpt.iterdir()] == ["rank0-of1.safetensors"]  # no temporary file left behind

    calls = []

    def counted(*args: object, **kwargs: object) -> torch.Tensor:
        calls.append(1)
        return ATTRIBUTION_METHODS["grad_x_act"](*args, **kwargs)  # type: ignore[operator]

    register_method("counted", counted)
    try:
        lm = load_model(model_dir)
        objective = PairPreference(list(load("probes:gender", split="dev"))[:20])
        resumed = attribute(lm, objective, "counted", batch_size=4, checkpoint=ckpt, checkpoint_every=2)
        n_batches = len(group_rows(objective.encode(lm.tokenizer).rows, 4))
        assert n_batches >= 8
        assert len(calls) == n_batches - 4  # the last save was after batch 4 of the 5 that ran
        calls.clear()
        whole = attribute(lm, objective, "counted", batch_size=4)
        assert len(calls) == n_batches
        for a, b in ((resumed.scores, whole.scores), (resumed.std, whole.std),
                     (resumed.consistency, whole.consistency)):
            assert torch.equal(a, b)  # bit for bit
        calls.clear()
        again = attribute(lm, objective, "counted", batch_size=4, checkpoint=ckpt)  # finished: nothing to redo
        assert not calls and torch.equal(again.scores, whole.scores)
        with pytest.raises(CheckpointMismatch, match="different run"):
            attribute(lm, PairPreference(list(load("probes:gender", split="dev"))[:8]), "counted", batch_size=4,
                      checkpoint=ckpt)
    finally:
        if "counted" in ATTRIBUTION_METHODS:
            ATTRIBUTION_METHODS.unregister("counted")


def test_checkpoint_refuses_another_world_size(tmp_path: Path) -> None:
    sums = {"sum": torch.zeros(2, 3, dtype=torch.float64)}
    state = PartialSums.open(tmp_path, rank=0, world=1, key="k", sums=sums)
    state.done = [0]
    state.save()
    with pytest.raises(CheckpointMismatch, match="another number of processes"):
        PartialSums.open(tmp_path, rank=0, world=2, key="k", sums=sums)
    (tmp_path / "rank0-of1.safetensors").write_bytes(b"not safetensors at all")
    with pytest.raises(CheckpointMismatch, match="cannot be read"):
        PartialSums.open(tmp_path, rank=0, world=1, key="k", sums=sums)


# -- device maps ---------------------------------------------------------------------------------

OFFLOAD_MAP = {"model.embed_tokens": "cpu", "model.rotary_emb": "cpu", "model.layers.0": "cpu",
               "model.layers.1": "disk", "model.norm": "cpu", "lm_head": "disk"}


def test_device_map_with_disk_offload_matches_plain_model(model_dir: Path, tmp_path: Path) -> None:
    pytest.importorskip("accelerate")
    from attributions import NeuronSet
    from neuronedit import masked
    from neuronedit.edits import EditError, prune_
    from neuronedit.measure.completion import next_token_logprob_gap
    from neuronedit.measure.evaluation import evaluate
    from neuronedit.model.loading import load_model

    plain = load_model(model_dir)
    spread = load_model(model_dir, device_map=OFFLOAD_MAP, offload_folder=tmp_path / "offload")
    assert any(p.device.type == "meta" for p in spread.model.parameters())  # really offloaded
    assert spread.fingerprint() == plain.fingerprint()
    objective = PairPreference([("the nurse said that she was lazy", "the nurse said that he was lazy"),
                                ("the engineer said he is rich", "the engineer said she is rich")])
    for method in ("grad_x_act", "integrated_gradients", "ablation", "activation"):
        _close(attribute(plain, objective, method, steps=4).scores,
               attribute(spread, objective, method, steps=4).scores)
    suites = ["probes:gender"]
    a = evaluate(plain, suites, n_boot=50, progress=False).get("probes-gender", "gender")
    b = evaluate(spread, suites, n_boot=50, progress=False).get("probes-gender", "gender")
    np.testing.assert_allclose(a.data["gap"], b.data["gap"], atol=1e-5)
    neurons = NeuronSet([(1, 3), (1, 7), (0, 2)])
    prompts = ["the nurse said that"]
    with masked(plain, neurons):
        want = next_token_logprob_gap(plain, prompts, " he", " she")
    with masked(spread, neurons):
        got = next_token_logprob_gap(spread, prompts, " he", " she")
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), atol=1e-5)
    with pytest.raises(EditError, match="offloaded"):
        prune_(spread, neurons)


def test_memory_estimate_scales_with_rows_and_counts_saved_tensors(model_dir: Path) -> None:
    from attributions.forward import collate, group_rows, row_values
    from attributions.memory import _probe, _saved_bytes, estimate_pass_memory
    from attributions.methods._common import leaf_activations
    from attributions.model import frozen
    from neuronedit.data import load
    from neuronedit.model.loading import load_model

    lm = load_model(model_dir)
    encoded = PairPreference(list(load("probes:gender", split="dev"))[:4]).encode(lm.tokenizer)
    batch = collate(group_rows(encoded.rows, 8)[0], lm.tokenizer.pad_token_id)
    weights = sum(p.numel() * p.element_size() for p in lm.model.parameters())
    # the saved-tensor count of a probe of k copies equals autograd's own count for a batch of k copies
    probe = _probe(batch, 3)
    params = {p.untyped_storage().data_ptr() for p in lm.model.parameters()}
    seen: set[int] = set()
    total = 0

    def pack(t: torch.Tensor) -> torch.Tensor:
        nonlocal total
        key = t.untyped_storage().data_ptr()
        if key not in seen and key not in params:
            seen.add(key)
            total += t.untyped_storage().nbytes()
        return t

    longest = int(batch.mask.sum(dim=1).argmax())
    copies = collate([encoded.rows[longest]] * 3, lm.tokenizer.pad_token_id)
    with frozen(lm.model), leaf_activations([lm.sites[0]]), torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        row_values(lm.model, copies)
    assert _saved_bytes(lm.model, lm.sites, probe, 0) == total > 0
    counted = estimate_pass_memory(lm.model, lm.sites, batch, first_layer=0, rows=24, measure=False)
    assert counted.how == "saved tensors x 2" and counted.weights >= weights
    assert counted.per_row == 2 * _saved_bytes(lm.model, lm.sites, _probe(batch, 8), 0) // 8
    assert counted.total == counted.weights + 24 * counted.per_row
    assert "rows" in counted.describe() and "GiB" in counted.describe()
    later = estimate_pass_memory(lm.model, lm.sites, batch, first_layer=1, rows=24, measure=False)
    assert later.per_row < counted.per_row  # scaling from a later layer keeps less of the graph
    measured = estimate_pass_memory(lm.model, lm.sites, batch, first_layer=0, rows=24)
    assert measured.per_row > 0 and measured.how in ("measured on a probe", "saved tensors x 2")


def test_cli_transfer_under_torchrun_matches_one_process(model_dir: Path, tmp_path: Path) -> None:
    import pandas as pd

    args = ["transfer", "--model", str(model_dir), "--domains", "gender", "race", "--max-items", "60",
            "--ppl-tokens", "2048", "--top-k", "3", "--dose", "2", "--n-boot", "100", "--batch-size", "4", "--quiet"]
    # one thread per process in both runs: with another thread count the float32 sums round differently, and
    # the tiny random model's near-tied StereoSet items then flip (a whole item, ~1 point of ss)
    _run([sys.executable, "-m", "neuronedit", *args, "--out", str(tmp_path / "one")], threads=1)
    done = _run(_torchrun("-m", "neuronedit", *args, "--out", str(tmp_path / "two")))
    assert done.stdout.count("report: ") == 1
    one, two = pd.read_csv(tmp_path / "one" / "effects.csv"), pd.read_csv(tmp_path / "two" / "effects.csv")
    assert list(one.columns) == list(two.columns) and len(one) == len(two) > 0
    numeric = one.select_dtypes("number").columns
    assert (one.drop(columns=numeric) == two.drop(columns=numeric)).all().all()
    np.testing.assert_allclose(two[numeric].to_numpy(float), one[numeric].to_numpy(float), atol=1e-3, rtol=1e-6)
