"""Edit records and manifests: the id is a content hash, every malformed manifest fails with an error
that names the field, fuzzed manifests fail only with clear errors."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tiny_models import tiny_lm

from attributions import LanguageModel, NeuronSet
from neuronedit import Edit, ManifestError, masked
from neuronedit.edits import MANIFEST_FORMAT, load_manifest, parse_manifest

NEURONS = NeuronSet([(0, 3), (0, 17), (1, 5), (1, 40), (0, 47)])


def _lm(arch: str, seed: int = 0) -> LanguageModel:
    return tiny_lm(arch, seed, bos=False, bias_std=0.1)  # the models of test_weight_edits.py


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
        ({**good, "format": "neuronedit.manifest/1"}, "this version reads"),
        ({**good, "edits": [{**good["edits"][0], "mode": "scale", "id": None}]}, "one factor or one factor per neuron"),
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
                     lambda inner: (st.lists(inner, max_size=4)
                                    | st.dictionaries(st.text(max_size=8), inner, max_size=4)),
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
