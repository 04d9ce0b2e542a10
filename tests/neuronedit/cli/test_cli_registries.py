"""Registry options: checked against the live registries (a name registered at run time works), listed in
--help without torch; the parser's other names match their sources."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest

from attributions import NeuronScores
from neuronedit.cli import args


@pytest.fixture
def mine() -> Iterator[str]:
    """An attribution method registered at run time: activation times two."""
    from attributions import ATTRIBUTION_METHODS, register_method

    before = dict(ATTRIBUTION_METHODS)
    register_method("mine", lambda model, sites, batch, layers: ATTRIBUTION_METHODS["activation"](
        model, sites, batch, layers) * 2)
    yield "mine"
    ATTRIBUTION_METHODS.restore(before)


def test_a_method_registered_at_run_time_works_from_the_command_line(mine, model_dir, tmp_path, run_cli):
    base = ["attribute", "--model", str(model_dir), "--data", "probes:gender", "--limit", "4", "--no-control",
            "--quiet"]
    code, log = run_cli([*base, "--method", mine, "--out", str(tmp_path / "m.safetensors")])
    assert code == 0, log
    code, log = run_cli([*base, "--method", "activation", "--out", str(tmp_path / "a.safetensors")])
    assert code == 0, log
    ours, builtin = NeuronScores.load(tmp_path / "m.safetensors"), NeuronScores.load(tmp_path / "a.safetensors")
    assert ours.meta["method"] == "mine"
    assert ours.scores.nan_to_num().allclose(2 * builtin.scores.nan_to_num())


@pytest.mark.parametrize(("argv", "option"), [
    (["attribute", "--method", "nope"], args.ATTRIBUTION_METHOD),
    (["attribute", "--control-method", "nope"], args.ATTRIBUTION_METHOD),
    (["transfer", "--method", "nope"], args.ATTRIBUTION_METHOD),
    (["transfer", "--unlearn-method", "nope"], args.UNLEARNING_METHOD),
    (["unlearn", "--forget", "probes:gender", "--method", "nope"], args.UNLEARNING_METHOD),
    (["compare", "--methods", "neurons,nope"], args.DEBIAS_METHOD)])
def test_an_unknown_name_exits_2_naming_the_registered_ones(mine, argv, option, run_cli):
    code, err = run_cli([*argv, "--out", "x"])
    assert code == 2 and "'nope'" in err and "Traceback" not in err, err
    assert f"choose from {', '.join(option.names())}" in err  # the live registry: "mine" too
    assert ("mine" in err) == (option is args.ATTRIBUTION_METHOD)


def test_compare_methods_are_a_list_of_distinct_names(run_cli):
    from neuronedit.cli import build_parser

    assert build_parser().parse_args(["compare", "--methods", "cda, random", "--out", "x"]).methods == ["cda", "random"]
    assert build_parser().parse_args(["compare", "--out", "x"]).methods is None  # DEFAULT_DEBIAS_METHODS at run time
    code, err = run_cli(["compare", "--methods", "cda,cda", "--out", "x"])
    assert code == 2 and "twice" in err, err
    code, err = run_cli(["compare", "--methods", ",", "--out", "x"])
    assert code == 2 and "(none given)" in err, err


def test_help_lists_the_built_in_names_without_importing_torch():
    code = (
        "import sys\n"
        "from neuronedit.cli import build_parser\n"
        "commands = build_parser()._subparsers._group_actions[0].choices\n"
        "print(commands['attribute'].format_help() + commands['compare'].format_help()"
        " + commands['unlearn'].format_help())\n"
        "print(sorted(m for m in ('torch', 'transformers', 'pandas', 'numpy') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("[]")
    shown = " ".join(done.stdout.split())
    for option in (args.ATTRIBUTION_METHOD, args.UNLEARNING_METHOD, args.DEBIAS_METHOD):
        assert ", ".join(option.built_in) in shown and f"{option.module}.{option.registry}" in shown


def test_the_parser_names_match_their_sources():
    """--help's built-in names, the defaults and the plain choices are spelled in the parser (their
    sources import torch); they must agree."""
    import inspect

    from attributions import ATTRIBUTION_METHODS, attribute, selection
    from attributions.objectives import PAIR_SPANS
    from neuronedit import cli
    from neuronedit.analysis import DEBIAS_METHODS
    from neuronedit.locate import control_scores as controls
    from neuronedit.locate import recipes
    from neuronedit.model import loading
    from neuronedit.unlearn import UNLEARNING_METHODS, unlearning_edit

    for option, registry in [(args.ATTRIBUTION_METHOD, ATTRIBUTION_METHODS),
                             (args.UNLEARNING_METHOD, UNLEARNING_METHODS), (args.DEBIAS_METHOD, DEBIAS_METHODS)]:
        assert option.names() is registry and option.built_in == tuple(registry)
    assert inspect.signature(attribute).parameters["method"].default == args.DEFAULT_ATTRIBUTION_METHOD
    assert inspect.signature(unlearning_edit).parameters["method"].default == args.DEFAULT_UNLEARNING_METHOD
    assert cli.RULES == selection.RULES and cli.DEFAULT_RULE == selection.DEFAULT_RULE
    assert args.DEFAULT_K == selection.DEFAULT_K
    assert args.CONTROLS == controls.CONTROLS and args.DEFAULT_CONTROL == controls.DEFAULT_CONTROL
    assert args.OBJECTIVES == recipes.OBJECTIVES
    assert ("auto", *PAIR_SPANS) == args.SPANS
    assert tuple(loading.DTYPES) == args.DTYPES
