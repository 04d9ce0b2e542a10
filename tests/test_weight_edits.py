"""Permanent edits, checkpoints and manifests on tiny models of every covered architecture."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tiny_models import MASKED_LM, MLP_WIDTH, TINY_CONFIGS, tiny_model, tiny_model_dir, tiny_tokenizer
from transformers import AutoModelForCausalLM, AutoModelForMaskedLM

from attributions import LanguageModel, NeuronSet, weights_fingerprint
from neuronedit import (
    Edit,
    EditError,
    EditLog,
    ManifestError,
    apply_edit_,
    compact_,
    masked,
    prune_,
    save_edited,
    scale_,
)
from neuronedit.edits import MANIFEST_FORMAT, MANIFEST_NAME, load_manifest, parse_manifest

ARCHS = sorted(TINY_CONFIGS)
IDS = torch.tensor([[3, 7, 9, 4, 12, 5, 8, 20], [6, 11, 13, 3, 9, 14, 2, 17]])
NEURONS = NeuronSet([(0, 3), (0, 17), (1, 5), (1, 40), (0, 47)])


def _lm(arch: str, seed: int = 0) -> LanguageModel:
    model = tiny_model(arch, seed)
    with torch.no_grad():  # non-zero biases so that bias handling is exercised
        for name, p in model.named_parameters():
            if name.endswith("bias"):
                p.normal_(0, 0.1)
    return LanguageModel(model, tiny_tokenizer(), name=f"tiny-{arch}")


@torch.no_grad()
def _logits(model: torch.nn.Module) -> torch.Tensor:
    return model(input_ids=IDS).logits


def _reload(arch: str, path: Path) -> torch.nn.Module:
    cls = AutoModelForMaskedLM if arch in MASKED_LM else AutoModelForCausalLM
    return cls.from_pretrained(path).eval()


def _means(lm: LanguageModel) -> dict[int, torch.Tensor]:
    gen = torch.Generator().manual_seed(1)
    return {layer: torch.randn(MLP_WIDTH, generator=gen) for layer in range(2)}


@pytest.mark.parametrize("arch", ARCHS)
def test_weight_edits_equal_hook_edits(arch):
    """prune_ / zero / scale_ / compact_ on the weights give the hook edit's logits within 1e-5."""
    cases = [("prune", dict(mode="zero")), ("zero", dict(mode="zero")), ("scale", dict(mode="scale", factor=2.0)),
             ("compact", dict(mode="zero"))]
    for mode, hook in cases:
        lm = _lm(arch)
        with masked(lm, NEURONS, **hook):
            expected = _logits(lm.model)
        if mode == "scale":
            edit = scale_(lm, NEURONS, 2.0)
        elif mode == "compact":
            edit = compact_(lm, NEURONS)
        else:
            edit = prune_(lm, NEURONS, read_in=mode == "prune")
        assert edit.mode == mode and EditLog.of(lm).applied_ids == [edit.id]
        torch.testing.assert_close(_logits(lm.model), expected, atol=1e-5, rtol=0)
        if mode == "compact":
            assert [s.n_neurons for s in lm.sites] == [MLP_WIDTH - 3, MLP_WIDTH - 2]


@pytest.mark.parametrize("arch", ARCHS)
def test_mean_edit_folds_into_bias_or_says_why_not(arch):
    lm = _lm(arch)
    means = _means(lm)
    with masked(lm, NEURONS, "mean", means=means):
        expected = _logits(lm.model)
    has_bias = lm.sites[0].out_bias is not None
    if not has_bias and arch != "llama":
        with pytest.raises(EditError, match="masked\\(model, neurons, mode='mean'"):
            prune_(lm, NEURONS, means=means)
        return
    edit = prune_(lm, NEURONS, means=means)
    assert edit.mode == "mean" and len(edit.values) == len(NEURONS)
    torch.testing.assert_close(_logits(lm.model), expected, atol=1e-5, rtol=0)


@pytest.mark.parametrize("arch", ARCHS)
def test_masked_save_reload_with_plain_transformers(arch, tmp_path):
    """mask -> save -> reload with plain transformers -> same logits; the model is restored after the save."""
    lm = _lm(arch)
    before = _logits(lm.model)
    state = {k: v.clone() for k, v in lm.model.state_dict().items()}
    with masked(lm, NEURONS, "scale", factor=0.5) as edit:
        edited = _logits(lm.model)
        save_edited(lm, tmp_path / "ckpt", edit)
    assert torch.equal(_logits(lm.model), before)
    after = lm.model.state_dict()
    assert after.keys() == state.keys() and all(torch.equal(after[k], state[k]) for k in state)
    assert EditLog.of(lm).applied_ids == []
    reloaded = _reload(arch, tmp_path / "ckpt")
    torch.testing.assert_close(_logits(reloaded), edited, atol=1e-5, rtol=0)
    manifest = load_manifest(tmp_path / "ckpt")
    saved = replace(edit, base_fingerprint=weights_fingerprint(lm.model))  # the save binds the edit to the weights
    assert [e.id for e in manifest] == [saved.id] and manifest[0].base_fingerprint == saved.base_fingerprint
    assert saved.id != edit.id, "the id covers the base fingerprint"
    assert getattr(reloaded.config, "neuronedit_edits") == [saved.id]


@pytest.mark.parametrize("arch", ["gpt2", "llama", "opt", "phi3"])
def test_pruned_and_mean_and_compact_checkpoints_reload(arch, tmp_path):
    for i, make in enumerate([lambda lm: prune_(lm, NEURONS, provenance={"note": "test"}),
                              lambda lm: prune_(lm, NEURONS, means=_means(lm)),
                              lambda lm: compact_(lm, NeuronSet([(0, 3), (0, 9), (1, 5), (1, 40)]))]):
        lm = _lm(arch)
        if i == 1 and arch == "phi3":  # no output bias to fold a mean into (tested above)
            continue
        make(lm)
        expected = _logits(lm.model)
        out = save_edited(lm, tmp_path / f"c{i}")
        torch.testing.assert_close(_logits(_reload(arch, out)), expected, atol=1e-5, rtol=0)


def test_compact_with_ragged_widths_refuses_to_save(tmp_path):
    lm = _lm("llama")
    compact_(lm, NEURONS)  # 3 neurons from layer 0, 2 from layer 1
    with pytest.raises(EditError, match="same number of neurons from every layer"):
        save_edited(lm, tmp_path / "ragged")
    assert not (tmp_path / "ragged").exists() and not list(tmp_path.iterdir())


def test_apply_edit_replays_refuses_mismatch_and_is_idempotent(tmp_path):
    lm = _lm("gpt2")
    edit = scale_(lm, NEURONS, 3.0, provenance={"method": "grad_x_act"})
    expected = _logits(lm.model)
    save_edited(lm, tmp_path / "ckpt")
    fresh = _lm("gpt2")
    assert apply_edit_(fresh, tmp_path / "ckpt" / MANIFEST_NAME) == [edit]
    torch.testing.assert_close(_logits(fresh.model), expected, atol=1e-6, rtol=0)
    assert apply_edit_(fresh, tmp_path / "ckpt") == []  # a second time changes nothing
    torch.testing.assert_close(_logits(fresh.model), expected, atol=1e-6, rtol=0)
    reloaded = LanguageModel(_reload("gpt2", tmp_path / "ckpt"), lm.tokenizer)
    assert apply_edit_(reloaded, tmp_path / "ckpt") == []  # the checkpoint records the edit
    other = _lm("gpt2", seed=1)
    with pytest.raises(ManifestError, match="fingerprint"):
        apply_edit_(other, edit)
    assert apply_edit_(other, edit, force=True) == [edit]


def test_save_refuses_to_overwrite_and_keeps_previous(tmp_path):
    lm = _lm("llama")
    with masked(lm, NEURONS) as edit:
        save_edited(lm, tmp_path / "ckpt", edit)
        with pytest.raises(FileExistsError, match="overwrite=True"):
            save_edited(lm, tmp_path / "ckpt", edit)
    with pytest.raises(EditError, match="carries no edit"):
        save_edited(lm, tmp_path / "other")
    with masked(lm, NeuronSet([(1, 1)])) as edit2:
        save_edited(lm, tmp_path / "ckpt", edit2, overwrite=True)
    assert [e.neurons for e in load_manifest(tmp_path / "ckpt")] == [edit2.neurons]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]


_KILLED_SAVE = textwrap.dedent("""
    import sys, time, torch
    sys.path.insert(0, {tests!r})
    from tiny_models import tiny_model, tiny_tokenizer
    from attributions import LanguageModel, NeuronSet
    from neuronedit import masked, save_edited
    import transformers.modeling_utils as mu
    original = mu.PreTrainedModel.save_pretrained
    def slow_save(self, path, **kw):
        original(self, path, **kw)
        print("WRITING", flush=True)
        time.sleep(60)
    mu.PreTrainedModel.save_pretrained = slow_save
    lm = LanguageModel(tiny_model("llama"), tiny_tokenizer())
    with masked(lm, NeuronSet([(0, 1)])) as edit:
        save_edited(lm, {out!r}, edit, overwrite=True)
""")


def test_killed_save_leaves_no_partial_checkpoint_and_keeps_previous(tmp_path):
    out = tmp_path / "ckpt"
    script = _KILLED_SAVE.format(tests=str(Path(__file__).parent), out=str(out))
    for previous in (False, True):
        if previous:
            lm = _lm("llama")
            with masked(lm, NEURONS) as edit:
                save_edited(lm, out, edit)
            files = {p.name: p.read_bytes() for p in out.iterdir()}
        proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
        try:
            assert proc.stdout.readline().strip() == "WRITING"  # weights written to the temporary directory
            proc.send_signal(signal.SIGKILL)
        finally:
            proc.wait(timeout=60)
        if previous:
            assert {p.name: p.read_bytes() for p in out.iterdir()} == files
            assert [e.neurons for e in load_manifest(out)] == [edit.neurons]
        else:
            assert not out.exists()
        stale = [p for p in tmp_path.iterdir() if p.name.startswith(".ckpt.tmp-")]
        assert stale, "the killed save left its temporary folder (then cleaned by the next save)"
    lm = _lm("llama")
    with masked(lm, NEURONS) as edit:
        save_edited(lm, out, edit, overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"], "stale temporaries of the target are removed"


def test_stale_temporaries_of_live_processes_are_kept_and_a_moved_aside_version_comes_back(tmp_path):
    from neuronedit.cache import MARKER, atomic_dir, clean_stale

    target = tmp_path / "out"
    live = tmp_path / f".out.tmp-{os.getppid()}-abc"  # a write still running (our parent process)
    live.mkdir()
    dead_pid = 2**22 + 12345  # above the default pid_max: no such process
    moved = tmp_path / f".out.old-{dead_pid}"  # killed between the two renames of an overwrite
    moved.mkdir()
    (moved / MARKER).write_text("")
    (moved / "weights").write_text("previous")
    other = tmp_path / f".other.tmp-{dead_pid}-x"  # another target's temporary: not ours to touch
    other.mkdir()
    clean_stale(target)
    assert (target / "weights").read_text() == "previous" and live.is_dir() and other.is_dir()
    with atomic_dir(target, overwrite=True) as tmp:
        (tmp / "weights").write_text("new")
    assert (target / "weights").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([live.name, other.name, "out"])


def test_masked_edit_record_matches_hook_and_id_is_content_hash():
    lm = _lm("gpt2")
    with masked(lm, NEURONS, "scale", factor=2.0) as a, masked(lm, NEURONS, "scale", factor=2.0) as b:
        pass
    assert a == b and a.id == b.id and a.mode == "scale" and a.factor == 2.0
    with masked(lm, NEURONS, "zero") as c:
        pass
    assert c.id != a.id
    assert Edit.from_dict(a.to_dict()) == a


def test_manifest_errors_name_the_field(tmp_path):
    good = {"format": MANIFEST_FORMAT, "edits": [Edit(NEURONS, "zero", base_fingerprint="ab" * 8).to_dict()]}
    assert parse_manifest(json.loads(json.dumps(good)))[0].neurons == NEURONS
    cases = [
        ({**good, "format": "other/2"}, "format"),
        ({**good, "edits": []}, "at least one edit"),
        ({**good, "edits": [{**good["edits"][0], "mode": "melt"}]}, "mode must be one of"),
        ({**good, "edits": [{**good["edits"][0], "neurons": [[0, -1]]}]}, r"neurons\[0\]"),
        ({**good, "edits": [{**good["edits"][0], "neurons": [[0, 1], [0, 1]]}]}, "twice"),
        ({**good, "edits": [{**good["edits"][0], "neurons": [[0, 2]]}]}, "changed by hand"),
        ({**good, "edits": [{**good["edits"][0], "base_fingerprint": "cd" * 8}]}, "changed by hand"),
        ({**good, "edits": [{**good["edits"][0], "base_fingerprint": "ab"}]}, "16 hex digits"),
        ({**good, "edits": [{**good["edits"][0], "neurons": []}]}, "empty"),
        ({**good, "edits": [{**good["edits"][0], "neurons": [[0, 1.9]]}]}, "not an integer"),
        ({**good, "edits": [{**good["edits"][0], "neurons": [[True, 1]]}]}, "bool"),
        ({**good, "edits": [{**good["edits"][0], "neurons": [[0, 10**40]]}]}, "outside"),
        ({**good, "edits": [{**good["edits"][0], "delta": "x.safetensors", "id": None}]}, "no weight delta"),
        ({**good, "format": "neuronedit.manifest/1"}, "do not cover the base"),
        ({**good, "edits": [{**good["edits"][0], "mode": "scale", "id": None}]}, "finite factor"),
        ({**good, "edits": [{**good["edits"][0], "mode": "mean", "id": None}]}, "one mean value per neuron"),
    ]
    for data, message in cases:
        data["edits"] = [{k: v for k, v in e.items() if not (k == "id" and v is None)} for e in data["edits"]]
        with pytest.raises(ManifestError, match=message):
            parse_manifest(data)
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ManifestError, match="not valid JSON"):
        load_manifest(bad)


_JSON = st.recursive(st.none() | st.booleans() | st.integers(-5, 100) | st.floats(allow_nan=True) | st.text(max_size=5),
                     lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                     max_leaves=12)
_EDIT_KEYS = ["id", "mode", "neurons", "factor", "values", "base_model", "base_fingerprint", "provenance", "delta"]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(_EDIT_KEYS), _JSON | st.sampled_from(["scale", "mean", "zero"]), max_size=9),
       st.sampled_from([MANIFEST_FORMAT, "x"]), st.booleans())
def test_fuzzed_manifests_fail_only_with_clear_errors(edit, fmt, wrap):
    data = {"format": fmt, "edits": [edit] if wrap else edit}
    try:
        edits = parse_manifest(data)
    except ManifestError as err:
        assert str(err)
    else:
        assert all(isinstance(e, Edit) for e in edits)


def test_cli_edit_and_apply(tmp_path):
    """attribute -> edit (default rule and k) -> reload with plain transformers; apply the manifest to the base."""
    from attributions import NeuronScores
    from attributions.selection import DEFAULT_K, DEFAULT_RULE

    model_dir = tiny_model_dir(tmp_path / "m")

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "neuronedit", *args], capture_output=True, text=True)

    scores = tmp_path / "s.safetensors"
    assert cli("attribute", "--model", str(model_dir), "--data", "probes:gender", "--split", "dev", "--limit", "8",
               "--out", str(scores), "--quiet").returncode == 0
    done = cli("edit", "--model", str(model_dir), "--scores", str(scores), "--mode", "prune", "--out",
               str(tmp_path / "e"))
    assert done.returncode == 0, done.stderr
    assert f"by rule '{DEFAULT_RULE}' (k={DEFAULT_K}, the default)" in done.stdout
    manifest = load_manifest(tmp_path / "e")
    chosen = manifest[0].neurons
    assert len(chosen) == DEFAULT_K and manifest[0].provenance["rule"] == DEFAULT_RULE
    assert manifest[0].provenance["data_sha256"] == {"probes:gender": "built-in"}
    base = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    with masked(base, chosen):
        expected = _logits(base)
    torch.testing.assert_close(_logits(AutoModelForCausalLM.from_pretrained(tmp_path / "e")), expected,
                               atol=1e-5, rtol=0)
    applied = cli("apply", "--model", str(model_dir), "--manifest", str(tmp_path / "e" / MANIFEST_NAME),
                  "--out", str(tmp_path / "a"))
    assert applied.returncode == 0, applied.stderr
    torch.testing.assert_close(_logits(AutoModelForCausalLM.from_pretrained(tmp_path / "a")), expected,
                               atol=1e-6, rtol=0)
    again = cli("apply", "--model", str(tmp_path / "a"), "--manifest", str(tmp_path / "e"), "--out",
                str(tmp_path / "b"))
    assert again.returncode == 0 and "already applied" in again.stdout and not (tmp_path / "b").exists()
    other = tiny_model_dir(tmp_path / "other", seed=3)
    refused = cli("apply", "--model", str(other), "--manifest", str(tmp_path / "e"), "--out", str(tmp_path / "c"))
    assert refused.returncode == 2 and "fingerprint" in refused.stderr and "--force" in refused.stderr
    bad = cli("edit", "--model", str(model_dir), "--out", str(tmp_path / "x"))
    assert bad.returncode == 2 and "exactly one of --scores" in bad.stderr
    assert NeuronScores.load(scores).meta["data_sha256"] == {"probes:gender": "built-in"}
