"""Planting a known mechanism: the written neurons compute what the docstrings say (checked against a hand
computation on every causal MLP layout), the calibrated gain reaches the asked association, the planted
model is an ordinary edit, and bad input is refused."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
from tiny_models import MASKED_LM, TINY_CONFIGS, tiny_lm

from attributions.errors import InputError
from attributions.hooks import capture_activations, pre_hooks
from neuronedit.edits import EditLog
from neuronedit.groundtruth import GroundTruth, plant
from neuronedit.groundtruth.writing import write_neuron

CAUSAL = sorted(set(TINY_CONFIGS) - MASKED_LM)
FEMALE, MALE = ("nurse", "secretary", "woman"), ("engineer", "mechanic", "man", "doctor")
TEMPLATES = ("the {o} was {a} .", "a {o} is {a} .", "the {o} of the family was {a} .", "the {o} at work is {a} .",
             "the {o} in the city was {a} .", "a {o} at home is {a} .")


def gender_pairs(folder: Path) -> str:
    """A StereoSet file (flat) in the tiny vocabulary: women's jobs go with poor/loud, men's with rich/angry."""
    lines = []
    for template in TEMPLATES:
        for occupation in FEMALE + MALE:
            for female, male in (("poor", "rich"), ("loud", "angry")):
                stereo, anti = (female, male) if occupation in FEMALE else (male, female)
                record = {"type": "intrasentence", "target": occupation, "bias_type": "gender",
                          "context": template.format(o=occupation, a="BLANK"),
                          "stereotype": template.format(o=occupation, a=stereo),
                          "anti-stereotype": template.format(o=occupation, a=anti),
                          "unrelated": template.format(o=occupation, a="paris")}
                lines.append(json.dumps(record))
    path = folder / "stereoset.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return f"stereoset:{path}"


@pytest.mark.parametrize("arch", CAUSAL)
def test_a_planted_pair_adds_gain_times_z_times_w(arch):
    """Hand computation: the two neurons' summed write is ``gain * z * w`` (times ``unit . x`` when gated)."""
    lm = tiny_lm(arch, dtype=torch.float64)
    site = lm.sites[1]
    d = lm.model.get_input_embeddings().weight.shape[1]
    torch.manual_seed(0)
    read, unit = torch.randn(d, dtype=torch.float64), torch.randn(d, dtype=torch.float64) / d
    write = torch.randn(d, dtype=torch.float64)
    for neuron, sign in ((3, 1), (7, -1)):
        write_neuron(site, neuron, read=read, offset=0.4, unit=unit, write=write, gain=2.0, sign=sign)
    seen: dict[str, torch.Tensor] = {}
    module = site.read_in_modules[0][1]
    ids = torch.randint(3, 60, (2, 9))
    with pre_hooks([(module, lambda _m, args: seen.update(x=args[0].detach()))]), \
            capture_activations(lm.sites) as acts, torch.no_grad():
        lm.model(input_ids=ids)
    x = seen["x"].reshape(2, 9, d)
    views = list(site.read_rows())
    gated, has_bias = len(views) == 2, views[0][1] is not None
    ux = x @ unit
    z = x @ read - 0.4 * (ux if gated or not has_bias else 1.0)
    expected = z * ux if gated else z
    got = acts[1][..., 3] - acts[1][..., 7]
    torch.testing.assert_close(got, expected, rtol=1e-6, atol=1e-8)
    written = site.write_rows()
    torch.testing.assert_close(written[3], 2.0 * write)
    torch.testing.assert_close(written[7], -2.0 * write)


def test_planting_reaches_the_strength_and_is_an_ordinary_edit(tmp_path):
    lm = tiny_lm("llama")
    before = {name: p.detach().clone() for name, p in lm.model.named_parameters()}
    edit, truth = plant(lm, ["gender"], neurons=4, strength=10, data=gender_pairs(tmp_path))
    assert truth.after["gender"] - truth.before["gender"] >= 10
    assert edit.mode == "plant" and edit in EditLog.of(lm) and len(truth.neurons) == 4
    assert set(edit.neurons) == set(truth.of("bias", "gender"))
    assert sorted(n.sign for n in truth.neurons) == [-1, -1, 1, 1]
    planted = {(n.layer, n.neuron) for n in truth.neurons}
    for name, param in lm.model.named_parameters():  # only the planted neurons' rows changed
        changed = (param.detach() != before[name])
        if not changed.any():
            continue
        layer = next(s.layer for s in lm.sites if name.startswith(s.name.rsplit(".", 1)[0]))
        width = lm.sites[layer].n_neurons
        axis = 1 if name.endswith("down_proj.weight") else 0
        rows = changed.any(dim=1 - axis) if changed.dim() == 2 else changed
        assert rows.shape[0] == width and {(layer, int(j)) for j in rows.nonzero()} <= planted, name
    path = truth.save(tmp_path)
    seconds = truth.provenance.pop("seconds")  # durations go to timings.json: planted.json is reproducible
    assert GroundTruth.load(path) == truth
    assert json.loads((tmp_path / "timings.json").read_text())["planted.json"] == {"provenance": {"seconds": seconds}}


def test_a_given_gain_is_written_as_is_and_scales_the_calibrated_plant(tmp_path):
    """``gain`` skips the search: the same neurons are planted with write rows of exactly that norm, and twice
    the calibrated gain raises the dev association at least as much as the calibrated plant."""
    data = gender_pairs(tmp_path)
    _, calibrated = plant(tiny_lm("llama"), ["gender"], neurons=4, strength=10, data=data)
    lm = tiny_lm("llama")
    _, given = plant(lm, ["gender"], neurons=4, strength=10, data=data, gain=2 * calibrated.gain["gender"])
    assert given.neurons == calibrated.neurons and given.gain["gender"] == 2 * calibrated.gain["gender"]
    assert given.provenance["gain_given"] and not calibrated.provenance["gain_given"]
    for n in given.of("bias", "gender"):
        norm = float(lm.sites[n[0]].write_rows()[n[1]].float().norm())
        assert norm == pytest.approx(given.gain["gender"], rel=1e-5)
    assert given.after["gender"] >= calibrated.after["gender"]


def test_the_gain_search_bites_when_the_mechanism_is_broken(tmp_path, monkeypatch):
    """With the write direction replaced by noise orthogonal to every pair's gradient the association cannot
    be raised, and planting says so instead of writing a model that misses its target."""
    import neuronedit.groundtruth.planting as planting

    real = planting.measure_directions

    def blind(*args, **kwargs):
        found = real(*args, **kwargs)
        found.write = torch.zeros_like(found.write)
        return found

    monkeypatch.setattr(planting, "measure_directions", blind)
    lm = tiny_lm("llama")
    weights = {name: p.detach().clone() for name, p in lm.model.named_parameters()}
    with pytest.raises(InputError, match="cannot raise the association"):
        plant(lm, ["gender"], neurons=4, strength=10, data=gender_pairs(tmp_path))
    assert all(torch.equal(p, weights[name]) for name, p in lm.model.named_parameters())  # nothing half-planted


@pytest.mark.parametrize("kwargs, message", [
    ({"neurons": 3}, "come in pairs"),
    ({"neurons": 0}, "come in pairs"),
    ({"strength": float("nan")}, "finite number"),
    ({"strength": 0}, "finite number"),
    ({"gain": float("inf")}, "--gain"),
    ({"gain": -1.0}, "--gain"),
    ({"gain": 1e9}, "--gain"),
    ({"variant": "shared"}, "two or more"),
    ({"variant": "mixed"}, "unknown variant"),
    ({"neurons": 200}, "fewer than the"),
    ({"domains": ["gender", "Gender"]}, "name each domain once"),
    ({"domains": ["gender", "gender"], "variant": "shared"}, "name each domain once"),
])
def test_bad_planting_requests_are_refused(tmp_path, kwargs, message):
    with pytest.raises(InputError, match=message):
        plant(tiny_lm("llama"), **{"domains": ["gender"], "data": gender_pairs(tmp_path), **kwargs})


def test_a_domain_without_dev_pairs_is_refused(tmp_path):
    with pytest.raises(InputError, match="has no items of bias type 'religion'; it has gender"):
        plant(tiny_lm("llama"), ["religion"], data=gender_pairs(tmp_path))


def test_pairs_the_tokenizer_does_not_know_are_refused_for_that_reason():
    """The built-in probes are mostly unknown words to the tiny tokenizer: the refusal names that cause, not the
    gain search's failure to raise the association."""
    lm = tiny_lm("llama")
    with pytest.raises(InputError, match=r"probes:gender: \d+% of the dev pairs' tokens are unknown to the tokenizer"):
        plant(lm, ["gender"], data="probes")


@pytest.mark.parametrize("change, message", [
    (lambda d: d.update(format="other"), "not a ground-truth record"),
    (lambda d: d["neurons"].append(dict(d["neurons"][0])), "listed twice"),
    (lambda d: d["neurons"][0].update(sign=2), "not a planted neuron"),
    (lambda d: d["neurons"][0].update(layer=True), "not a planted neuron"),
    (lambda d: d.update(strength="10"), "'strength' must be association points"),
    (lambda d: d.update(strength=-1), "'strength' must be association points"),
    (lambda d: d["gain"].update(gender=float("inf")), "'gain' must map"),
    (lambda d: d.update(before={}), "'before' must map each of the domains"),
    (lambda d: d["after"].update(race=60.0), "'after' must map each of the domains"),
    (lambda d: d.update(seed=-1), "'seed' must be an integer"),
    (lambda d: d.update(seed=10**400), "'seed' must be an integer"),
    (lambda d: [n.update(role="knowledge") for n in d["neurons"]], "no bias neuron serves gender"),
    (lambda d: d["neurons"][0].update(domain="race"), "serves 'race', which is not among"),
    (lambda d: d.update(domains=["gender", "race"]), "no bias neuron serves race"),
    (lambda d: d.update(variant="shared"), "two or more for the shared variant"),
    (lambda d: d.update(domains=["gender", "gender"]), "must be distinct"),
    (lambda d: d.update(provenance={"data": {"gender": ["stereoset"]}}), "name its data per domain"),
    (lambda d: d.update(provenance={"data": "stereoset"}), "name its data per domain"),
    (lambda d: d.update(provenance={"model_spec": 7}), "name its data per domain and its model"),
])
def test_a_damaged_ground_truth_is_refused(tmp_path, change, message):
    from neuronedit.groundtruth import PlantedNeuron

    truth = GroundTruth([PlantedNeuron(0, 1, "bias", "gender", 1), PlantedNeuron(0, 2, "bias", "gender", -1)],
                        "separate", ["gender"], 10.0, 0, gain={"gender": 1.5}, before={"gender": 50.0},
                        after={"gender": 61.0})
    data = json.loads(json.dumps(truth.to_dict()))
    assert GroundTruth.from_dict(data) == truth
    change(data)
    (tmp_path / "planted.json").write_text(json.dumps(data))
    with pytest.raises(InputError, match=message):
        GroundTruth.load(tmp_path)


@pytest.mark.parametrize("text, message", [
    ("[" * 100000 + "]" * 100000, "nesting too deep"), ("{not json", "is not valid JSON"), (b"\xff\xfe{", "not UTF-8"),
])
def test_an_unreadable_ground_truth_names_the_file_and_the_fix(tmp_path, text, message):
    path = tmp_path / "planted.json"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(InputError, match=f"planted.json .*{message}.*neuronedit plant --out"):
        GroundTruth.load(tmp_path)
    path.unlink()
    os.mkfifo(path)
    with pytest.raises(InputError, match="planted.json is not a regular file"):
        GroundTruth.load(tmp_path)


def test_the_gain_search_ends_and_refuses_a_target_met_at_vanishing_gains():
    """A score moved by any change (ties broken) meets the target at every gain: bisection used to halve
    forever; a linear rise is still found to 3%."""
    from neuronedit.groundtruth.planting import _search

    calls = []

    def flat(gain: float) -> float:
        calls.append(gain)
        return 1.0

    with pytest.raises(InputError, match="vanishing gain"):
        _search(flat, 0.5, 1.0)
    assert len(calls) < 40
    gain, reached = _search(lambda g: 2 * g, 0.5, 0.01)
    assert 0.25 <= gain <= 0.25 * 1.04 and reached >= 0.5
