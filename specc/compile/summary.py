"""``specc summary``: one row per layer instance, with output shapes and parameter counts."""
from __future__ import annotations

from torch import nn

from ..analysis.check import CheckedSpec
from ..analysis.ir import GraphIR


def summarise(checked: CheckedSpec, module: nn.Module, model: str | None = None) -> dict:
    """The summary as plain data (what ``--json`` prints)."""
    name = model or checked.model
    graph = checked.program.models[name]
    rows: list[dict] = []
    _rows(checked, graph, module, "", rows)
    total = sum(p.numel() for p in module.parameters())
    trainable = sum(p.numel() for p in module.parameters() if p.requires_grad)
    outs = [str(t.batched) if hasattr(t, "batched") else str(t) for t in graph.output_types]
    return {
        "model": name,
        "inputs": {n: t.batched for n, t in graph.inputs},
        "layers": rows,
        "total_params": total,
        "trainable_params": trainable,
        "output_shape": outs[0] if len(outs) == 1 else outs,
    }


def _rows(checked: CheckedSpec, graph: GraphIR, module: nn.Module, prefix: str, rows: list) -> None:
    for name, layer in graph.layers.items():
        qual = prefix + name
        if layer.source == "param":               # a free Parameter (10.5)
            rows.append({"name": qual, "type": "Parameter", "output_shape": layer.out_type.batched,
                         "params": module.get_parameter(name).numel(), "shared_with": ""})
            continue
        sub = module.get_submodule(name) if layer.call is None else None   # a layer compiled to a function
        lines = sorted({s.line for s in layer.uses})
        shared = f"applied {len(layer.uses)}x (lines {', '.join(map(str, lines))})" if len(layer.uses) > 1 else ""
        out = layer.out_type.batched if hasattr(layer.out_type, "batched") else str(layer.out_type or "-")
        kind = f"block {layer.target}" if layer.source == "block" else layer.target
        params = sum(p.numel() for p in sub.parameters()) if sub is not None else 0
        rows.append({"name": qual, "type": kind, "output_shape": out, "params": params, "shared_with": shared})
        if layer.source == "block":
            _rows(checked, checked.program.blocks[layer.target], sub, qual + ".", rows)
