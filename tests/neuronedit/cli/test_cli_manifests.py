"""Manifests are untrusted input to `neuronedit apply`: a delta cannot leave its folder, integrity
fields are enforced, fuzzed manifests exit 2 and write only inside --out."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from attributions import NeuronSet
from neuronedit.edits import MANIFEST_NAME, Edit, ManifestError, delta_bytes, load_manifest, make_delta, save_manifest


def _unlearn_manifest(folder: Path, model_dir: Path, fingerprint: str) -> Path:
    """A genuine unlearning manifest: one changed weight, its delta file next to the manifest."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(model_dir)
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    with torch.no_grad():
        model.model.layers[0].mlp.down_proj.weight[0, 0] += 1.0
    data, digest = delta_bytes(make_delta(before, model))
    folder.mkdir(parents=True)
    name = f"unlearn-{digest[:12]}.safetensors"
    (folder / name).write_bytes(data)
    edit = Edit(NeuronSet(), "unlearn", base_fingerprint=fingerprint, delta=name, delta_sha256=digest)
    return save_manifest([edit], folder / MANIFEST_NAME)


def _files(root: Path, skip: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*")
            if p.is_file() and skip not in p.parents}


def test_manifest_delta_cannot_leave_its_folder(model_dir, fingerprint, tmp_path, run_cli):
    manifest = _unlearn_manifest(tmp_path / "m", model_dir, fingerprint)
    out = tmp_path / "deep" / "a" / "b" / "out"
    assert run_cli(["apply", "--model", str(model_dir), "--manifest", str(manifest), "--out", str(out)])[0] == 0
    assert load_manifest(out)[0].delta_sha256, "a genuine manifest replays"
    (tmp_path / "secret.safetensors").write_bytes((tmp_path / "m" / load_manifest(manifest)[0].delta).read_bytes())
    (tmp_path / "m" / "link.safetensors").symlink_to(tmp_path / "secret.safetensors")
    body = json.loads(manifest.read_text())
    for delta in ["../../payload/evil.safetensors", "/etc/hostname", "../secret.safetensors", "sub/x.safetensors",
                  "link.safetensors", ".hidden.safetensors", ""]:
        body["edits"][0]["delta"] = delta
        body["edits"][0].pop("id", None)
        manifest.write_text(json.dumps(body))
        before = _files(tmp_path, skip=out)
        code, err = run_cli(["apply", "--model", str(model_dir), "--manifest", str(manifest), "--out",
                             str(tmp_path / "deep" / "a" / "b" / "out2")])
        assert code == 2 and "Traceback" not in err, (delta, err)
        assert _files(tmp_path, skip=out) == before, f"{delta}: something was written"


@pytest.mark.parametrize("field, value, message", [
    ("delta_sha256", None, "SHA-256"), ("delta_sha256", "", "SHA-256"), ("base_fingerprint", "", "--force"),
    ("base_fingerprint", "ffffffffffffffff", "fingerprint"), ("id", "0000000000000000", "changed by hand"),
])
def test_manifest_integrity_fields_are_enforced(field, value, message, model_dir, fingerprint, tmp_path, run_cli):
    manifest = _unlearn_manifest(tmp_path / "m", model_dir, fingerprint)
    body = json.loads(manifest.read_text())
    body["edits"][0][field] = value
    if field != "id":  # a consistent hand edit: the id rehashed, so the field's own check speaks
        try:
            body["edits"][0]["id"] = replace(load_manifest(manifest)[0], **{field: value}).id
        except ManifestError:
            body["edits"][0].pop("id")
    manifest.write_text(json.dumps(body))
    argv = ["apply", "--model", str(model_dir), "--manifest", str(manifest), "--out", str(tmp_path / "o")]
    code, err = run_cli(argv)
    assert code == 2 and message in err, err
    if field == "base_fingerprint" and value == "":
        assert run_cli([*argv, "--force"])[0] == 0, "--force applies an edit that names no fingerprint"


_JSON = st.recursive(st.none() | st.booleans() | st.integers(-3, 2**70) | st.floats() | st.text(max_size=12)
                     | st.sampled_from(["../x.safetensors", "/etc/hostname", "..", "", "unlearn", "prune", "mean"]),
                     lambda inner: (st.lists(inner, max_size=3)
                                    | st.dictionaries(st.text(max_size=6), inner, max_size=3)),
                     max_leaves=8)
_FIELDS = ["id", "mode", "neurons", "factor", "values", "base_model", "base_fingerprint", "provenance", "delta",
           "delta_sha256", "format", "edits"]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(mutations=st.lists(st.tuples(st.sampled_from(_FIELDS), _JSON), min_size=1, max_size=3),
       raw=st.one_of(st.none(), st.binary(max_size=40)))
def test_fuzzed_manifests_exit_2_and_write_only_inside_out(mutations, raw, model_dir, fingerprint, tmp_path_factory,
                                                           run_cli):
    root = tmp_path_factory.mktemp("fuzz")
    manifest = _unlearn_manifest(root / "m", model_dir, fingerprint)
    body = json.loads(manifest.read_text())
    for key, value in sorted(mutations, key=lambda kv: kv[0] in ("format", "edits")):  # the edit's fields first
        (body if key in ("format", "edits") else body["edits"][0])[key] = value
    manifest.write_bytes(raw if raw is not None else json.dumps(body).encode())
    out = root / "x" / "out"
    before = _files(root, skip=out)
    code, err = run_cli(["apply", "--model", str(model_dir), "--manifest", str(manifest), "--out", str(out)])
    assert code in (0, 2) and "Traceback" not in err
    assert code == 0 or "error:" in err
    assert _files(root, skip=out) == before

