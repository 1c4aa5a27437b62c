"""specc: a declarative model-spec compiler for PyTorch.

Public API (torch is imported only by the functions that need it)::

    spec = specc.load("moons.spec")          # parse + validate -> Spec
    specc.check(spec)                        # names and shapes -> CheckedSpec
    gm = specc.build(spec)                   # torch.fx.GraphModule
    src = specc.to_source(spec)              # standalone PyTorch source
    result = specc.train(spec, out="runs/x") # train; metrics, history, module
    run = specc.load_run("runs/x")          # the trained run: predict, evaluate
"""
from __future__ import annotations

from pathlib import Path

from .errors import Diagnostic, Span, SpecError
from .syntax.spec import Spec, parse_spec, read_spec_file

__all__ = ["load", "check", "build", "to_source", "train", "load_run", "Spec", "SpecError", "Diagnostic", "Span"]
__version__ = "0.1.0"


def load(path_or_text: str | Path, *, defer_sections: bool = False) -> Spec:
    """Parse and validate a spec from a path (``str`` ending in ``.spec`` or a Path) or from text.

    ``defer_sections`` keeps refused section values in ``Spec.problems`` (reported by
    :func:`check` with every other mistake) instead of raising here."""
    if isinstance(path_or_text, Path) or (isinstance(path_or_text, str) and "\n" not in path_or_text
                                          and path_or_text.strip().endswith(".spec")):
        return read_spec_file(path_or_text, defer_sections=defer_sections)
    return parse_spec(str(path_or_text), defer_sections=defer_sections)


def _spec(spec_or_path) -> Spec:
    return spec_or_path if isinstance(spec_or_path, Spec) else load(spec_or_path, defer_sections=True)


def check(spec, model: str | None = None):
    """Resolve names and infer every shape; returns a CheckedSpec (raises SpecError).

    ``spec`` may be a Spec, a path, spec text, or an already checked spec.
    """
    from .analysis.check import CheckedSpec, check as _check

    if isinstance(spec, CheckedSpec):
        return spec if model is None or model == spec.model else _check(spec.spec, model)
    return _check(_spec(spec), model)


def build(spec, model: str | None = None):
    """The model as a ``torch.fx.GraphModule``; ``forward`` takes the inputs in signature order.

    Weights are drawn from torch's global generator: call ``torch.manual_seed`` first for
    reproducible weights.
    """
    from .compile.fx_build import build as _build
    from .analysis.imports import loaded_modules

    checked = check(spec, model)
    return _build(checked, checked.program.models[checked.model_name(model)], loaded_modules(checked.spec))


def to_source(spec, model: str | None = None) -> str:
    """Standalone PyTorch source for ``model`` (default: every model) and the blocks it uses."""
    from .compile.codegen import to_source as _to_source

    return _to_source(check(spec, model), model)


def train(spec, out: str | Path | None = None, *, device: str | None = None, resume: bool = False,
          force: bool = False, quiet: bool = True, hooks=(), tuning=None, **overrides):
    """Train the spec's model; returns a RunResult (``metrics``, ``history``, ``model``).

    ``overrides`` set entries as ``--set`` does: ``train(spec, epochs=5)`` sets ``train.epochs``
    and ``train(spec, data_batch=128)`` sets ``data.batch`` (``section_key=value``; a bare key
    means the train section). Python values are written in spec syntax (``True`` -> ``true``,
    ``["accuracy"]`` -> ``[accuracy]``; :func:`specc.run.spec_text`).

    ``hooks`` are objects with ``on_step(epoch, step)`` and/or ``on_epoch_end(epoch, model,
    row)``, called by the trainer (1-based). ``tuning`` is a
    :class:`specc.training.tuning.Tuning` that switches speed settings off (default: all on).
    """
    from .run import overrides_to_sets, run_spec

    return run_spec(_spec(spec), overrides_to_sets(overrides), out=out, device=device, resume=resume,
                    force=force, quiet=quiet, hooks=hooks, tuning=tuning)


def load_run(path: str | Path, device: str | None = None):
    """A run folder's model on its best weights: ``.model``, ``.spec``, ``.metrics``,
    ``.history``, ``.classes``, ``.predict(inputs)``, ``.evaluate(data=None, split="valid")``.
    The folder alone is enough: neither the spec's folder nor its data need exist."""
    from .inference import load_run as _load_run

    return _load_run(path, device)
