"""Issue #26, "messages": refusals that named no file, the wrong command or flag, or echoed a 400-digit
number now name the file or command and the fix, in one line."""

from __future__ import annotations

import json
import shutil

import pytest
from cli_checks import refused

from attributions import NeuronSet
from attributions.errors import InputError
from attributions.objectives import TokenContrast
from neuronedit.edits import Edit, ManifestError

BIG = "9" * 400


def test_an_unknown_flag_is_refused_by_its_command(run_cli):
    refused(run_cli(["models", "--zzz"]), "neuronedit models: error: unrecognized arguments: --zzz",
             "neuronedit models --help")
    refused(run_cli(["--zzz"]), "neuronedit: error: unrecognized arguments: --zzz", "neuronedit --help")


@pytest.mark.parametrize("argv", [["edit", "--model", "m", "--neurons", "n.json", "--out", "o", "--top-k", BIG],
                                  ["edit", "--model", "m", "--neurons", "n.json", "--out", "o", "--mode", "scale",
                                   "--factor", BIG + ".0"],
                                  ["transfer", "--model", "m", "--out", "o", "--dose", BIG]])
def test_a_huge_number_is_refused_without_repeating_it(run_cli, argv):
    out = refused(run_cli(argv), "99999999999999999...")
    assert BIG[:30] not in out


def test_neurons_out_of_range_name_their_file(model_dir, tmp_path, run_cli):
    NeuronSet([(0, 999)]).save(tmp_path / "far.json")
    refused(run_cli(["edit", "--model", str(model_dir), "--neurons", str(tmp_path / "far.json"), "--out",
                      str(tmp_path / "o")]), f"{tmp_path / 'far.json'}: neuron [0, 999] is out of range")
    assert not (tmp_path / "o").exists()


def test_a_damaged_edit_list_in_the_config_names_the_config(model_dir, tmp_path, run_cli):
    damaged = shutil.copytree(model_dir, tmp_path / "damaged")
    config = json.loads((damaged / "config.json").read_text())
    (damaged / "config.json").write_text(json.dumps({**config, "neuronedit_edits": 5}))
    NeuronSet([(0, 1)]).save(tmp_path / "n.json")
    refused(run_cli(["edit", "--model", str(damaged), "--neurons", str(tmp_path / "n.json"), "--out",
                      str(tmp_path / "o")]), f"{damaged / 'config.json'} has neuronedit_edits = 5")


def test_a_fingerprint_that_is_not_a_string_says_the_manifest_was_changed():
    record = Edit(neurons=NeuronSet([(0, 1)]), mode="zero", base_fingerprint="f" * 16).to_dict()
    with pytest.raises(ManifestError, match="base_fingerprint must be a string, not NoneType: the manifest was "
                                            "changed by hand"):
        Edit.from_dict({**record, "base_fingerprint": None})


def test_two_words_the_tokenizer_cannot_tell_apart():
    from tiny_models import tiny_tokenizer

    tokenizer = tiny_tokenizer()
    with pytest.raises(InputError, match="the unknown token.*cannot tell them apart"):
        TokenContrast(["The nurse said that"], " zqxj", " qqzx").encode(tokenizer)
