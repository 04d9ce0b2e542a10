"""EleutherAI's lm-evaluation-harness on an edit held in memory (``pip install 'neuronedit[lm-eval]'``).

Importing this module registers the harness model type ``neuronedit``: a Hugging Face causal LM loaded
by :func:`neuronedit.load_model` (so ``pretrained=demo`` works offline), with an edit manifest applied
(``edit=neuronedit.json``) and/or neurons edited by hooks for the model's lifetime
(``neurons=neurons.json,mode=zero|mean``). The harness's command line does not discover plugins, so
run it through this module::

    python -m neuronedit.harness run --model neuronedit \\
        --model_args pretrained=demo,neurons=out/neurons.json --tasks crows_pairs_english

A bad ``--model_args`` value is one line naming it and the fix, exit 2 (as the ``neuronedit`` command).
In Python, :func:`harness_model` wraps a :class:`LanguageModel` you already hold: an edit active
around ``lm_eval.simple_evaluate(model=harness_model(lm), ...)`` is what the harness scores.
"""

from __future__ import annotations

import difflib
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

try:
    from lm_eval.api.registry import register_model  # type: ignore[import-untyped]
    from lm_eval.models.huggingface import HFLM  # type: ignore[import-untyped]
except ModuleNotFoundError as err:
    if err.name is None or err.name.partition(".")[0] != "lm_eval":
        raise
    _MISSING = (f"neuronedit.harness needs EleutherAI's lm-evaluation-harness ({err}); install it with "
                "pip install 'neuronedit[lm-eval]'")
    if __name__ == "__main__":  # python -m neuronedit.harness: one line, as for any other refusal
        print(f"neuronedit.harness: error: {_MISSING}", file=sys.stderr)
        sys.exit(2)
    raise ModuleNotFoundError(_MISSING, name=err.name) from err

from attributions import LanguageModel, NeuronSet, mean_activations
from attributions.errors import InputError, NeuronEditError
from attributions.forward import start_token_id

from .data.neutral import NEUTRAL_TEXTS
from .edits.handle import as_language_model
from .edits.masks import masked

__all__ = ["ModelArgsError", "NeuronEditHarnessLM", "harness_model", "main"]

OWN_KEYS = ("pretrained", "edit", "neurons", "mode", "force", "dtype", "trust_remote_code")
"""The ``--model_args`` keys of the ``neuronedit`` model type itself."""
HFLM_KEYS = ("batch_size", "max_batch_size", "max_length", "truncation", "logits_cache", "backend", "softmax_dtype",
             "mixed_precision_dtype", "add_bos_token", "think_end_token", "enable_thinking", "chat_template_args")
"""The harness's own ``HFLM`` keys that still mean something for a model loaded by neuronedit."""
_TRUE, _FALSE = ("true", "1", "yes"), ("false", "0", "no")
_NEURON_FILE = "a JSON neuron set written by NeuronSet.save"


class ModelArgsError(InputError):
    """A bad ``--model_args`` value of the ``neuronedit`` model type; the message starts with ``key=value``."""


def harness_model(model: LanguageModel, *, batch_size: int = 16, **options: Any) -> HFLM:
    """A harness model over ``model``'s module and tokenizer; the harness's empty-context requests start
    with the same start token as neuronedit's scorers. Hooks and weights are shared, not copied."""
    lm = as_language_model(model)
    return HFLM(pretrained=lm.model, tokenizer=lm.tokenizer, batch_size=batch_size,
                prefix_token_id=start_token_id(lm.tokenizer), **options)


def _os_text(err: OSError) -> str:
    """An OSError as text that names the file and ends with what to do."""
    text = f"{err.filename}: {err.strerror or err}" if err.filename is not None else str(err)
    return f"{text}; check the path" if isinstance(err, FileNotFoundError) else text


@contextmanager
def _argument(key: str, value: object, fix: str = "") -> Iterator[None]:
    """Raise a toolkit error or OSError of one ``model_args`` value as a :class:`ModelArgsError` naming it
    (with ``fix`` appended to a message that gives none, i.e. has no ``;``)."""
    try:
        yield
    except ModelArgsError:
        raise
    except (NeuronEditError, OSError) as err:
        text = _os_text(err) if isinstance(err, OSError) else str(err).removeprefix(f"{value}: ")
        raise ModelArgsError(f"{key}={value}: {text}" + (f"; {fix}" if fix and ";" not in text else "")) from err


def _keys(kwargs: Mapping[str, Any]) -> None:
    """Refuse ``model_args`` keys the model type would silently ignore."""
    if "tokenizer" in kwargs:
        raise ModelArgsError(f"tokenizer={kwargs['tokenizer']}: the neuronedit model uses the tokenizer that "
                             "pretrained= loads with it; drop tokenizer=")
    for key in sorted(set(kwargs) - set(HFLM_KEYS) - {"device"}):
        near = difflib.get_close_matches(key, OWN_KEYS + HFLM_KEYS, n=1)
        hint = f"did you mean {near[0]}=? " if near else ""
        raise ModelArgsError(f"{key}={kwargs[key]}: unknown model_args key of --model neuronedit; {hint}it takes "
                             f"{', '.join(k + '=' for k in OWN_KEYS)} and the harness's {', '.join(HFLM_KEYS)}")


def _flag(key: str, value: bool | int | str) -> bool:
    """``force=true`` and friends as a bool."""
    text = str(value).lower()
    if text not in _TRUE + _FALSE:
        raise ModelArgsError(f"{key}={value}: give {key}=true or {key}=false")
    return text in _TRUE


def _batch_size(key: str, value: object) -> int | str:
    """A positive batch size, ``auto`` or ``auto:N`` (the harness passes ``--batch_size`` as text)."""
    text = str(value).strip()
    if text == "auto" or (text.startswith("auto:") and text[5:].isdigit()):
        return text
    if isinstance(value, bool) or not text.isdigit() or int(text) < 1:
        raise ModelArgsError(f"{key}={value}: give a positive whole number, auto or auto:N")
    return int(text)


def _path(key: str, value: object, fix: str) -> Path:
    """An existing file named by ``key=value`` (``fix`` says what belongs there)."""
    if value is None or isinstance(value, bool) or not str(value).strip():  # the harness reads edit=12 as 12
        raise ModelArgsError(f"{key}={'' if value is None else value}: give the path of {fix}")
    path = Path(str(value))
    if not path.exists():
        raise ModelArgsError(f"{key}={value}: no such file or folder; check the path (it takes {fix})")
    return path


def _check_base(lm: LanguageModel, path: Path, pretrained: str) -> None:
    """Refuse a manifest made on other weights, with the fix in ``model_args`` terms."""
    from .edits import EditLog, load_manifest

    log = EditLog.of(lm)
    pending = [edit for edit in load_manifest(path) if edit not in log]
    if not pending:
        return
    first, current = pending[0], lm.fingerprint()
    if first.base_fingerprint != current:
        made = (f"weights with fingerprint {first.base_fingerprint}" if first.base_fingerprint
                else "weights it does not name (no base_fingerprint)")
        raise ModelArgsError(f"edit={path}: made on {made} ({first.base_model or 'unnamed model'}), but "
                             f"pretrained={pretrained} has fingerprint {current}; give pretrained= the model the "
                             "manifest names, or add force=true to apply it anyway")


def _merged(args: Mapping[str, Any], extra: Mapping[str, Any] | None) -> dict[str, Any]:
    """``model_args`` plus what the harness passes besides (``--batch_size``, ...): a key in both must agree,
    except the harness's default ``batch_size`` 1, which a ``model_args`` batch size overrides. The harness's
    ``--device`` (default cuda) is not used: the model loads on ``model_args``' ``device=`` (default cpu)."""
    out = dict(args)
    for key, value in (extra or {}).items():
        if value is None or key == "device":  # the model loads where model_args' device= says (default cpu)
            continue
        if key not in out or str(out[key]) == str(value) or (key == "batch_size" and str(value) == "1"):
            out.setdefault(key, value)
            continue
        raise ModelArgsError(f"{key}={out[key]} in --model_args and --{key} {value} disagree; give one")
    return out


@register_model("neuronedit")
class NeuronEditHarnessLM(HFLM):
    """``--model neuronedit``: ``pretrained`` is a neuronedit model spec (``demo``, a folder, a GGUF file),
    loaded with ``dtype`` (default float32); ``edit`` a neuronedit.json manifest (or a checkpoint folder
    holding one) applied to the weights; ``neurons`` a neuron file edited by hooks with ``mode`` (``zero``
    or ``mean``) while the model lives (:meth:`close` removes them); ``force`` applies a manifest made on
    other weights. Other keys: the harness's :data:`HFLM_KEYS`; any other raises :class:`ModelArgsError`."""

    def __init__(self, pretrained: str = "demo", edit: str | None = None, neurons: str | None = None,
                 mode: str = "zero", force: bool | str = False, batch_size: int | str = 16,
                 dtype: str = "float32", trust_remote_code: bool | str = False, **kwargs: Any) -> None:
        from .edits import apply_edit_, load_manifest
        from .model.checks import check_device
        from .model.loading import DTYPES, load_model

        _keys(kwargs)
        if mode not in ("zero", "mean"):
            raise ModelArgsError(f"mode={mode}: choose mode=zero or mode=mean")
        if neurons is None and mode != "zero":
            raise ModelArgsError(f"mode={mode} edits the neurons of neurons=FILE; add neurons= or drop mode=")
        forced, trusted = _flag("force", force), _flag("trust_remote_code", trust_remote_code)
        batch = _batch_size("batch_size", batch_size)
        if dtype not in DTYPES:
            raise ModelArgsError(f"dtype={dtype}: choose dtype={' or dtype='.join(DTYPES)} (neuronedit loads float32 "
                                 "by default)")
        if pretrained is None or isinstance(pretrained, bool) or not str(pretrained).strip():
            raise ModelArgsError(f"pretrained={pretrained or ''}: give demo, a checkpoint folder, a .gguf file or "
                                 "a hub id")
        manifest = chosen = None
        if edit is not None:
            manifest = _path("edit", edit, "the neuronedit.json that `neuronedit edit` wrote, or its folder")
            with _argument("edit", edit):
                load_manifest(manifest)  # a damaged manifest is refused before the model loads
        if neurons is not None:
            with _argument("neurons", neurons, f"give {_NEURON_FILE}"):
                chosen = NeuronSet.load(_path("neurons", neurons, _NEURON_FILE))
        device = kwargs.pop("device", None) or "cpu"
        with _argument("device", device):
            check_device(device)
        with _argument("pretrained", pretrained):
            lm = load_model(str(pretrained), dtype=dtype, trust_remote_code=trusted, device=device)
        if manifest is not None:
            with _argument("edit", edit):
                if not forced:
                    _check_base(lm, manifest, str(pretrained))
                apply_edit_(lm, manifest, force=forced)
        self._hooks = ExitStack()
        if chosen is not None:
            with _argument("neurons", neurons):
                means = mean_activations(lm, list(NEUTRAL_TEXTS)) if mode == "mean" else None
                self._hooks.enter_context(masked(lm, chosen, mode, means=means))
        self.language_model = lm
        super().__init__(pretrained=lm.model, tokenizer=lm.tokenizer, batch_size=batch,
                         prefix_token_id=start_token_id(lm.tokenizer), **kwargs)

    @classmethod
    def create_from_arg_obj(cls, arg_dict: Mapping[str, Any],
                            additional_config: Mapping[str, Any] | None = None) -> NeuronEditHarnessLM:
        """The model of ``--model_args`` (a dict) and the harness's ``--batch_size``/``--device``/...."""
        return cls(**_merged(arg_dict, additional_config))

    @classmethod
    def create_from_arg_string(cls, arg_string: str,
                               additional_config: Mapping[str, Any] | None = None) -> NeuronEditHarnessLM:
        """The model of a ``key=value,...`` string (``simple_evaluate(model_args="...")``)."""
        from lm_eval.utils import simple_parse_args_string  # type: ignore[import-untyped]

        return cls.create_from_arg_obj(simple_parse_args_string(arg_string), additional_config)

    def close(self) -> None:
        """Remove the neuron hooks (the model is unedited by hooks afterwards)."""
        self._hooks.close()


def main(argv: Sequence[str] | None = None) -> int:
    """The harness's own command line (``argv`` or ``sys.argv``), with the ``neuronedit`` model type
    registered; a toolkit error or OSError is one line on stderr and exit code 2."""
    from lm_eval.__main__ import cli_evaluate  # type: ignore[import-untyped]

    saved = sys.argv
    if argv is not None:
        sys.argv = [saved[0] if saved else "neuronedit.harness", *argv]
    try:
        cli_evaluate()
    except NeuronEditError as err:
        print(f"neuronedit.harness: error: {' '.join(str(err).splitlines())}", file=sys.stderr)
        return 2
    except OSError as err:
        print(f"neuronedit.harness: error: {' '.join(_os_text(err).splitlines())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("neuronedit.harness: interrupted", file=sys.stderr)
        return 130
    finally:
        sys.argv = saved
    return 0


if __name__ == "__main__":
    sys.exit(main())
