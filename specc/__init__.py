"""specc: a declarative model-spec compiler for PyTorch.

Public API (torch is imported only by the functions that need it)::

    spec = specc.load("moons.spec")          # parse + validate -> Spec
    specc.check(spec)                        # names and shapes -> CheckedSpec
    gm = specc.build(spec)                   # torch.fx.GraphModule
    src = specc.to_source(spec)              # standalone PyTorch source
    result = specc.train(spec, out="runs/x") # train; metrics, history, module
"""
from __future__ import annotations

from pathlib import Path

from .errors import Diagnostic, Span, SpecError
from .syntax.spec import Spec, parse_spec, read_spec_file

__all__ = ["load", "check", "build", "to_source", "train", "Spec", "SpecError", "Diagnostic", "Span"]
__version__ = "0.1.0"


def load(path_or_text: str | Path) -> Spec:
    """Parse and validate a spec from a path (``str`` ending in ``.spec`` or a Path) or from text."""
    if isinstance(path_or_text, Path) or (isinstance(path_or_text, str) and "\n" not in path_or_text
                                          and path_or_text.strip().endswith(".spec")):
        return read_spec_file(path_or_text)
    return parse_spec(str(path_or_text))
