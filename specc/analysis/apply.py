"""Applying things to tensors: layers, blocks, catalogue functions, imported code, indexing.

A mix-in of :class:`~specc.analysis.lower.GraphLowerer`; it relies on its ``ctx``, ``scope``,
``expr``, ``emit``, ``ir`` and ``layer_names``.
"""
from __future__ import annotations

from dataclasses import replace

from ..catalog import signatures
from ..catalog.dims import is_int, is_number
from ..catalog.functions import DEVICE, FUNCTIONS, PREV, REQUIRED
from ..catalog.layer_args import ArgProblem, check_args, check_dims
from ..catalog.layers import (FORWARD_MASKS, PARAM_SHAPES, RULES, ShapeProblem, check_param_count,
                              check_rank_for_pool, check_size, functional_form)
from ..catalog.losses import LOSSES
from ..catalog.torch_tables import FORWARDS, NN_MODULES
from ..errors import Span, did_you_mean
from ..syntax import ast
from ..types import DeviceType, Ref, SymInt, TensorType, TupleType
from . import meta
from .context import Failed
from .ir import LayerInst, Op
from .names import snake
from .values import BlockSpec, Chain, Const, FuncStage, LayerSpec, Poison, Tensor, Tup, Value, describe

INITS = {"zeros": (), "ones": (), "normal": ("mean", "std"), "uniform": ("a", "b")}
"""A Parameter's initialisers (10.5), with the numbers each takes."""

_DTYPE_WORDS = {"float": "float", "index": "token ids (long)", "any": "any"}


class Applier:
    # ------------------------------------------------------------ calls
    def call(self, e: ast.Call) -> Value:
        if isinstance(e.func, ast.Name) and e.func.id == "Parameter" and "Parameter" not in self.scope:
            return self.free_parameter(e)
        args = [self.expr(a) for a in e.args]
        kwargs = {k.name: self.expr(k.value) for k in e.kwargs}
        arg_spans = [a.span for a in e.args]
        kw_spans = {k.name: k.span for k in e.kwargs}
        func = e.func
        if isinstance(func, ast.Name) and func.id not in self.scope:
            name = func.id
            if name in self.ctx.blocks:
                block = self.ctx.blocks[name]
                tensor_kw = {k: v for k, v in kwargs.items() if k in _tensor_params(block)}
                spec = self._block_spec(block, args, {k: v for k, v in kwargs.items() if k not in tensor_kw}, e,
                                        kw_spans)
                tensors = [a for a in args if isinstance(a, (Tensor, Tup))]
                if tensors or tensor_kw:
                    return self.apply_block(spec, self._block_inputs(block, tensors, tensor_kw, e), e.span)
                return spec
            if name in FUNCTIONS or (self.loss and name in LOSSES):
                stage = FuncStage(name, args, kwargs, e.span, arg_spans, kw_spans)
                builder = name in FUNCTIONS and FUNCTIONS[name].tensors == 0     # arange(t): nothing to wait for
                if builder or (args and isinstance(args[0], (Tensor, Tup))):
                    return self.call_function(stage, [], e.span)
                return stage
            if name in NN_MODULES:
                self._constants_only(name, args, kwargs, arg_spans, kw_spans)
                return self.layer_spec(name, "torch", [a.value for a in args],
                                       {k: v.value for k, v in kwargs.items()}, e.span, arg_spans, kw_spans)
        callee = self.expr(func)
        if isinstance(callee, LayerSpec) and callee.source == "import" and not callee.args and not callee.kwargs \
                and isinstance(func, ast.Attr) and not any(isinstance(a, (Tensor, Tup)) for a in args):
            self._constants_only(callee.type_name, args, kwargs, arg_spans, kw_spans)
            return self.import_spec(callee, [a.value for a in args], {k: v.value for k, v in kwargs.items()},
                                    e.span, arg_spans, kw_spans)
        if isinstance(callee, FuncStage) and callee.name.count(".") == 1 and not callee.args:
            stage = FuncStage(callee.name, args, kwargs, e.span, arg_spans, kw_spans)
            if args and isinstance(args[0], (Tensor, Tup)):
                return self.call_function(stage, [], e.span)
            return stage                  # a pipeline stage, as for the catalogue: -> my.fn(k=2)
        if isinstance(callee, LayerSpec) and kwargs and callee.source == "torch":
            for v in args:
                if isinstance(v, Poison):
                    raise Failed()
            return self.apply_layer(callee, self._tensors_only(callee, args, e.span), e.span, kwargs, kw_spans)
        if isinstance(callee, BlockSpec) and kwargs:
            tensor_kw = {k: v for k, v in kwargs.items() if k in _tensor_params(callee.block)}
            if len(tensor_kw) < len(kwargs):
                k = next(k for k in kwargs if k not in tensor_kw)
                raise self.ctx.fail(f"block {callee.block.name} is applied to tensors; its setting '{k}' goes where "
                                    "it is constructed", kw_spans[k], did_you_mean(k, _tensor_params(callee.block)),
                                    code="E140")
            return self.apply_block(callee, self._block_inputs(callee.block, args, tensor_kw, e), e.span)
        if isinstance(callee, (LayerSpec, BlockSpec, Chain, FuncStage)):
            if kwargs:
                raise self.ctx.fail(f"{describe(callee)} is applied to tensors only; keyword arguments go where "
                                    "it is constructed", e.kwargs[0].span, code="E140")
            return self.apply_stage(callee, args, e.span)
        raise self.ctx.fail(f"{describe(callee)} cannot be called", func.span, code="E141")

    def _tensors_only(self, stage, inputs: list[Value], span: Span) -> list[Tensor]:
        for v in inputs:
            if isinstance(v, Tup):
                raise self.ctx.fail(f"{describe(stage)} is applied to a tuple {v.type}", span,
                                    "unpack it first: out, _ = ...", code="E180")
            if not isinstance(v, Tensor):
                raise self.ctx.fail(f"{describe(stage)} is applied to {describe(v)}, not a tensor", span, code="E181")
        return inputs

    def _block_inputs(self, block: ast.Block, positional: list[Value], by_name: dict, e: ast.Call) -> list[Value]:
        """A block's tensor inputs in its signature's order: the positional ones first, then the
        ones passed by name (10.1)."""
        names = _tensor_params(block)
        if len(positional) > len(names):
            return positional                # the count is refused with the others by the block's use
        inputs: dict[str, Value] = dict(zip(names, positional))
        spans = {k.name: k.span for k in e.kwargs}
        for k, v in by_name.items():
            if k in inputs:
                raise self.ctx.fail(f"block {block.name} got its input '{k}' twice", spans[k], code="E173")
            if isinstance(v, Poison):
                raise Failed()
            inputs[k] = v
        missing = [n for n in names if n not in inputs]
        if missing:
            raise self.ctx.fail(f"block {block.name} needs its input '{missing[0]}'", e.span,
                                f"pass it as {block.name}(...)({', '.join(names)})", code="E173")
        return [inputs[n] for n in names]

    def _constants_only(self, what, args, kwargs, arg_spans, kw_spans) -> None:
        for v, sp in [*zip(args, arg_spans), *((kwargs[k], kw_spans[k]) for k in kwargs)]:
            if not isinstance(v, Const):
                raise self.ctx.fail(f"{what}(...) takes settings, not {describe(v)}", sp,
                                    f"construct the layer, then apply it: {what}(...)(x) or x -> {what}(...)",
                                    code="E143")

    # ------------------------------------------------------------ constructing layers
    def layer_spec(self, name: str, source: str, args: list, kwargs: dict, span: Span,
                   arg_spans=None, kw_spans=None) -> LayerSpec:
        """A torch.nn layer as written, after checking its arguments against torch's signature."""
        rule = RULES.get(name)
        problems = signatures.check_call(NN_MODULES[name], len(args), list(kwargs), _skipped(name), name=name,
                                         filled=rule.infer if rule else ())
        for p in problems:
            where = span
            if isinstance(p.arg, int) and arg_spans and p.arg < len(arg_spans):
                where = arg_spans[p.arg]
            elif isinstance(p.arg, str) and kw_spans and p.arg in kw_spans:
                where = kw_spans[p.arg]
            self.ctx.error(p.message, where, p.hint, code="E150")
        if problems:
            raise Failed()
        if rule:
            for key, value in rule.forced.items():
                if key in kwargs and kwargs[key] != value:
                    raise self.ctx.fail(f"specc keeps the batch first: {name}({key}={value!r}) is not supported",
                                        kw_spans[key], code="E151")
        return LayerSpec(name, source, list(args), dict(kwargs), span, list(arg_spans or []), dict(kw_spans or {}))

    def imported(self, alias: str, name: str, span: Span) -> Value:
        """``alias.Name``: an nn.Module class (a layer) or a function from an imported file."""
        module = self.ctx.imports[alias]
        obj = getattr(module, name, None)
        if obj is None:
            public = [n for n in dir(module) if not n.startswith("_")]
            raise self.ctx.fail(f"'{alias}' has no '{name}'", span, did_you_mean(name, public), code="E160")
        kind = meta.kind_of(obj)
        if kind == "module":
            return LayerSpec(f"{alias}.{name}", "import", [], {}, span)
        if kind == "function":
            return FuncStage(f"{alias}.{name}", [], {}, span)
        raise self.ctx.fail(f"'{alias}.{name}' is neither an nn.Module subclass nor a function", span, code="E161")

    def import_spec(self, bare: LayerSpec, args, kwargs, span, arg_spans, kw_spans) -> LayerSpec:
        alias, name = bare.type_name.split(".")
        problem = meta.check_signature(getattr(self.ctx.imports[alias], name), args, kwargs)
        if problem:
            raise self.ctx.fail(f"{bare.type_name}(...): {problem}", span, code="E162")
        return LayerSpec(bare.type_name, "import", list(args), dict(kwargs), span, list(arg_spans), dict(kw_spans))

    def _block_spec(self, block: ast.Block, args, kwargs, e: ast.Call, kw_spans) -> BlockSpec:
        settings = {p.name for p in block.params if not p.type.is_tensor}
        for v, a in zip(args, e.args):
            if not isinstance(v, (Tensor, Tup)):
                raise self.ctx.fail(f"block {block.name} takes its settings by name", a.span,
                                    f"write {block.name}({', '.join(f'{s}=...' for s in sorted(settings))})",
                                    code="E170")
        for k, v in kwargs.items():
            if k not in settings:
                hint = did_you_mean(k, settings) or (f"its settings: {', '.join(sorted(settings))}" if settings else
                                                     f"{block.name} has no settings")
                raise self.ctx.fail(f"block {block.name} has no setting '{k}'", kw_spans[k], hint, code="E171")
            if not isinstance(v, Const):
                raise self.ctx.fail(f"the setting '{k}' of block {block.name} must be a constant, got {describe(v)}",
                                    kw_spans[k], code="E172")
        return BlockSpec(block, {k: v.value for k, v in kwargs.items()}, e.span, kw_spans)

    # ------------------------------------------------------------ applying
    def apply_stage(self, stage: Value, inputs: list[Value], span: Span) -> Value:
        for v in inputs:
            if isinstance(v, Poison):
                raise Failed()
        if isinstance(stage, Chain):
            cur = inputs
            for s in stage.stages:
                cur = [self.apply_stage(s, cur, span)]
            return cur[0]
        if isinstance(stage, FuncStage):
            return self.call_function(stage, inputs, span)
        self._tensors_only(stage, inputs, span)
        if isinstance(stage, BlockSpec):
            return self.apply_block(stage, inputs, span)
        if isinstance(stage, LayerSpec):
            return self.apply_layer(stage, inputs, span)
        raise self.ctx.fail(f"{describe(stage)} cannot be applied", span, code="E182")

    def apply_layer(self, spec: LayerSpec, inputs: list[Tensor], span: Span, kwargs: dict | None = None,
                    kw_spans: dict | None = None) -> Value:
        types = [t.type for t in inputs]
        rule = RULES.get(spec.type_name) if spec.source == "torch" else None
        try:
            if rule is None:
                inferred = ()
                out, params = meta.infer_layer(self.ctx, spec, types)
            else:
                lo, hi = rule.inputs
                if not lo <= len(types) <= hi:
                    raise ShapeProblem(f"{spec.type_name} is applied to {lo if lo == hi else f'{lo} to {hi}'} "
                                       f"tensor(s), got {len(types)}")
                self._check_dtype(spec.type_name, rule.dtype, types[0])
                if spec.type_name.endswith(("Pool1d", "Pool2d", "Pool3d")):
                    check_rank_for_pool(spec.type_name, types[0])
                inferred = rule.fill(types[0])
                bound = self._bind(spec, rule, inferred, types)
                check_args(spec.type_name, bound)
                check_dims(bound, len(types[0].full))
                params = check_size(spec.type_name, bound)
                out = rule.out(types, bound)
        except ArgProblem as p:
            raise self.ctx.fail(self._at(spec, f"{spec.type_name}(...): {p.message}"),
                                self._arg_span(spec, rule, p.arg), p.hint, code="E152")
        except ShapeProblem as p:
            raise self.ctx.fail(self._at(spec, p.message), span, p.hint, code="E201")
        if types[0].batch_dim is None:           # an unbatched input: the layer's rule, without the batch
            out = _unbatched(out)
        op_kwargs, weightless = self._forward_kwargs(spec, types, kwargs or {}, kw_spans or {}, span)
        if weightless:                           # need_weights=false: torch returns (output, None)
            out = TupleType((out.items[0],))
        inst = self._instance(spec, inferred, types, out, span, params)
        refs = tuple(t.ref for t in inputs)
        if spec.type_name == "MultiheadAttention" and len(refs) == 1:
            refs = refs * 3
        result = self._call_layer(inst, refs, out, span, op_kwargs)
        return Tup([result.items[0], Const(None)]) if weightless else result

    def _call_layer(self, inst: LayerInst, refs: tuple, out, span: Span, kwargs: dict | None = None) -> Value:
        """One application of a layer: a module call, or its function (``LayerInst.call``)."""
        if inst.call is not None:
            return self.emit("function", inst.call[0], refs, inst.call[1], out, span, inst.name)
        return self.emit("module", inst.name, refs, dict(kwargs or {}), out, span, inst.name)

    def _forward_kwargs(self, spec: LayerSpec, types: list, kwargs: dict, kw_spans: dict, span: Span):
        """The keyword arguments of one application (10.1), checked against the layer's forward:
        ``(kwargs for the call, whether the attention weights are left out)``."""
        if not kwargs:
            return {}, False
        params = [n for n, kind, _ in FORWARDS.get(spec.type_name, ()) if kind in ("pos", "kwonly")]
        # the tensors given fill the first parameters (self-attention passes one for all three)
        names = params[3 if spec.type_name == "MultiheadAttention" else len(types):]
        op_kwargs = {}
        for k, v in kwargs.items():
            where = kw_spans.get(k, span)
            if k not in names:
                hint = did_you_mean(k, names) or (f"its forward takes {', '.join(names)}" if names else
                                                  f"{spec.type_name} takes only its input tensor(s)")
                raise self.ctx.fail(f"{spec.type_name}(...)(...) got an unexpected keyword argument '{k}'", where,
                                    hint, code="E144")
            if isinstance(v, Poison):
                raise Failed()
            if isinstance(v, Const) and v.value is None:
                continue                         # an optional input left out
            if isinstance(v, Tensor):
                self._check_mask(spec.type_name, k, v.type, types, where)
                op_kwargs[k] = v.ref
            elif isinstance(v, Const) and isinstance(v.value, (bool, int, float)):
                if k in FORWARD_MASKS.get(spec.type_name, {}):
                    raise self.ctx.fail(f"{spec.type_name}: '{k}' takes a tensor or none, got {describe(v)}", where,
                                        code="E145")
                op_kwargs[k] = v.value
            else:
                raise self.ctx.fail(f"{spec.type_name}: '{k}' takes a tensor, a number or none, got {describe(v)}",
                                    where, code="E145")
        if spec.type_name == "TransformerEncoderLayer" and op_kwargs.get("is_causal") and "src_mask" not in op_kwargs:
            raise self.ctx.fail("TransformerEncoderLayer: is_causal=true is a hint about src_mask, which is missing",
                                kw_spans["is_causal"], "pass the mask too: src_mask=causal_mask(t), is_causal=true",
                                code="E145")
        weightless = spec.type_name == "MultiheadAttention" and op_kwargs.get("need_weights") is False
        if spec.type_name == "MultiheadAttention" and op_kwargs.get("average_attn_weights") is False and not weightless:
            raise self.ctx.fail("MultiheadAttention: average_attn_weights=false (weights per head) is not "
                                "supported by specc", kw_spans["average_attn_weights"],
                                "leave it out: the weights are averaged over the heads", code="E145")
        return op_kwargs, weightless

    def _check_mask(self, layer: str, k: str, mask: TensorType, types: list, where: Span) -> None:
        """A mask passed to a layer by keyword, against the layer's inputs (:data:`FORWARD_MASKS`)."""
        kinds = FORWARD_MASKS.get(layer, {})
        if k not in kinds:
            raise self.ctx.fail(f"{layer}: '{k}' takes no tensor", where, code="E145")
        query = types[0]
        key = types[1] if len(types) > 1 else query
        length, key_length = query.shape[0] if query.shape else None, key.shape[0] if key.shape else None
        if kinds[k] == "attn":
            want = f"({length}, {key_length})"
            ok = mask.batch_dim is None and mask.shape == (length, key_length)
        else:
            want = f"(B, {key_length})"
            ok = mask.batch_dim == 0 and mask.shape == (key_length,)
        if not ok:
            raise self.ctx.fail(f"{layer}: {k} must be {want} for the input {query.batched}, got {mask.batched}", where,
                                "attention masks are (query length, key length), made by causal_mask(t); padding "
                                "masks are (B, key length), made by padding_mask(tokens)", code="E205")
        if mask.dtype not in ("bool", "float"):
            raise self.ctx.fail(f"{layer}: {k} must hold bool or float, got {mask.dtype} {mask.batched}", where,
                                "true marks a position attention must not see; bool(x) makes a mask", code="E205")

    def _arg_span(self, spec: LayerSpec, rule, arg: str) -> Span:
        """Where the user wrote constructor argument ``arg`` (or the layer, if it was left out)."""
        if arg in spec.kwarg_spans:
            return spec.kwarg_spans[arg]
        names = signatures.positional_names(NN_MODULES[spec.type_name])
        i = names.index(arg) - _skipped(spec.type_name) if arg in names else -1
        return spec.arg_spans[i] if 0 <= i < len(spec.arg_spans) else spec.span

    def _at(self, spec: LayerSpec, message: str) -> str:
        if spec.binding and not message.startswith(spec.binding):
            return f"{spec.binding} = {spec.type_name}(...): {message}"
        return message

    def _check_dtype(self, name: str, want: str, t: TensorType) -> None:
        ok = {"float": t.dtype == "float", "index": t.dtype in ("long", "int"), "any": True}[want]
        if not ok:
            hint = ("token ids need an Embedding first: Embedding(data.vocab, 64)" if want == "float"
                    else "Embedding looks up token ids; this input holds real numbers")
            raise ShapeProblem(f"{name} expects {_DTYPE_WORDS[want]} input, got {t.dtype} {t.batched}", hint)

    def _bind(self, spec: LayerSpec, rule, inferred: tuple, types) -> dict:
        """Every constructor argument by name: defaults, inferred sizes, the user's, forced.
        An inferred size the spec writes anyway must equal the input's."""
        entry = NN_MODULES[spec.type_name]
        names = signatures.positional_names(entry)
        bound = signatures.defaults(entry)
        bound.update(zip(names, [*inferred, *_after_sizes(spec, rule)]))
        written = {**dict(zip(names[_skipped(spec.type_name):len(rule.infer)], spec.args)), **spec.kwargs}
        for key, value in zip(rule.infer, inferred):
            if key in written and not _same_size(written[key], value):
                raise ArgProblem(key, f"{key} is {value} from the input {types[0].batched}, got {written[key]!r}",
                                 "leave it out: specc fills it in from the input")
        bound.update(spec.kwargs)
        bound.update(rule.forced)
        return bound

    def _instance(self, spec: LayerSpec, inferred: tuple, types, out, span: Span, params: int = 0) -> LayerInst:
        """The layer instance this application uses: a new one, or the shared one (checked);
        ``params`` is the size of a new one."""
        if spec.inst is not None:
            inst = spec.inst
            if not inst.uses:                    # its weight was used before it was applied (tok.weight)
                inst.in_types, inst.out_type = list(types), out
            elif [str(t) for t in inst.in_types] != [str(t) for t in types]:
                old = ", ".join(t.batched for t in inst.in_types)
                new = ", ".join(t.batched for t in types)
                # its own sizes must agree; other dims may differ (a Linear over lengths 64 and 32)
                compatible = (inst.args[:len(inferred)] == tuple(inferred) if spec.type_name in RULES
                              and spec.source == "torch" else str(inst.out_type) == str(out))
                if not compatible:
                    raise self.ctx.fail(f"the shared layer {inst.name} was first applied to {old} "
                                        f"(line {inst.uses[0].line}), now to {new}", span,
                                        "a layer bound to a name shares its weights between applications",
                                        code="E202")
            inst.uses.append(span)
            return inst
        rule = RULES.get(spec.type_name) if spec.source == "torch" else None
        args = tuple(inferred) + tuple(_after_sizes(spec, rule) if rule else spec.args)
        kwargs = dict(spec.kwargs)
        if rule:
            kwargs = {k: v for k, v in kwargs.items() if k not in rule.infer}
            kwargs.update(rule.forced)
        name = self.layer_names.fresh(spec.binding or f"{snake(spec.type_name)}_{self._count(spec.type_name)}")
        inst = LayerInst(name, spec.source, spec.type_name, args, kwargs, spec.span, [span], list(types), out,
                         params=params)
        if spec.source == "torch" and spec.type_name in NN_MODULES:
            entry = NN_MODULES[spec.type_name]
            names = signatures.positional_names(entry)
            inst.call = functional_form(spec.type_name, {**dict(zip(names, args)), **kwargs}, signatures.defaults(entry))
        self.ir.layers[name] = inst
        spec.inst = inst
        return inst

    def _count(self, type_name: str) -> int:
        self._counts = getattr(self, "_counts", {})
        self._counts[type_name] = self._counts.get(type_name, 0) + 1
        return self._counts[type_name]

    def apply_block(self, spec: BlockSpec, inputs: list[Value], span: Span) -> Value:
        from .blocks import specialise
        graph_name = specialise(self, spec, inputs, span)
        graph = self.ctx.program.blocks[graph_name]
        if spec.inst is not None:
            if spec.inst.target != graph_name:
                raise self.ctx.fail(f"the shared block {spec.inst.name} was first applied to "
                                    f"{', '.join(t.batched for t in spec.inst.in_types)}, now to "
                                    f"{', '.join(t.type.batched for t in inputs)}", span, code="E203")
            inst = spec.inst
            inst.uses.append(span)
        else:
            name = self.layer_names.fresh(spec.binding or f"{snake(spec.block.name)}_{self._count(spec.block.name)}")
            out_type = graph.output_types[0] if len(graph.output_types) == 1 else TupleType(tuple(graph.output_types))
            inst = LayerInst(name, "block", graph_name, (), {}, spec.span, [span], [t.type for t in inputs], out_type)
            self.ir.layers[name] = inst
            spec.inst = inst
        return self.emit("module", inst.name, tuple(t.ref for t in inputs), {}, inst.out_type, span, inst.name)

    # ------------------------------------------------------------ free parameters and layer weights
    def free_parameter(self, e: ast.Call) -> Tensor:
        """``Parameter(64, 128, init=normal(0, 0.02))`` (10.5): a learned tensor without a batch dim."""
        shape = []
        for a in e.args:
            v = self.expr(a)
            if not (isinstance(v, Const) and is_int(v.value) and v.value >= 1):
                raise self.ctx.fail(f"Parameter(...) takes its sizes as whole numbers of at least 1, got {describe(v)}",
                                    a.span, "a parameter's size is fixed: Parameter(64, 128)", code="E220")
            shape.append(v.value)
        if not shape:
            raise self.ctx.fail("Parameter(...) needs its sizes", e.span, "e.g. Parameter(64, 128)", code="E220")
        init = ("zeros", ())
        for k in e.kwargs:
            if k.name != "init":
                raise self.ctx.fail(f"Parameter(...) got an unexpected keyword argument '{k.name}'", k.span,
                                    did_you_mean(k.name, ["init"]) or "it takes its sizes and init=...", code="E221")
            init = self._init(k.value)
        n = 1
        for d in shape:
            n *= d
        try:
            check_param_count("Parameter", n)
        except ShapeProblem as p:
            raise self.ctx.fail(p.message, e.span, p.hint, code="E220")
        stmt = getattr(self, "assigning", None)
        base = stmt.target if stmt is not None and stmt.value is e else "param"
        name = self.layer_names.fresh(base)
        t = TensorType("float", tuple(shape), None)
        self.ir.layers[name] = LayerInst(name, "param", "Parameter", tuple(shape), {"init": init}, e.span, [],
                                         [], t, params=n)
        return self.emit("param", name, (), {}, t, e.span, "param")

    def _init(self, e) -> tuple[str, tuple]:
        """``init=`` of a Parameter: ``zeros``, ``ones``, ``normal(mean, std)`` or ``uniform(a, b)``."""
        name = e.id if isinstance(e, ast.Name) else e.func.id if isinstance(e, ast.Call) and isinstance(
            e.func, ast.Name) else None
        if name not in INITS:
            hint = did_you_mean(name, INITS) if name else None
            raise self.ctx.fail("init= takes zeros, ones, normal(mean, std) or uniform(a, b)", e.span, hint,
                                code="E222")
        args = []
        for a in (e.args if isinstance(e, ast.Call) else []):
            v = self.expr(a)
            if not (isinstance(v, Const) and is_number(v.value)):
                raise self.ctx.fail(f"{name}(...) takes numbers, got {describe(v)}", a.span, code="E222")
            args.append(float(v.value))
        written = f"{name}({', '.join(INITS[name])})" if INITS[name] else name
        if isinstance(e, ast.Call) and e.kwargs:
            raise self.ctx.fail(f"{name}(...) takes its numbers by position", e.kwargs[0].span, f"write init={written}",
                                code="E222")
        if len(args) != len(INITS[name]):
            raise self.ctx.fail(f"{name} takes {len(INITS[name])} number(s), got {len(args)}", e.span,
                                f"write init={written}", code="E222")
        if name == "normal" and args[1] <= 0:
            raise self.ctx.fail(f"normal(mean, std) needs a positive std, got {args[1]:g}", e.args[1].span,
                                code="E222")
        if name == "uniform" and args[0] >= args[1]:
            raise self.ctx.fail(f"uniform(a, b) needs a < b, got {args[0]:g} and {args[1]:g}", e.span, code="E222")
        return name, tuple(args)

    def layer_param(self, spec, e: ast.Attr) -> Tensor:
        """``tok.weight`` (10.6): a parameter of a layer bound to a name, read-only, without a batch dim."""
        owner = e.value.id
        if isinstance(spec, BlockSpec):
            raise self.ctx.fail(f"{owner} is the block {spec.block.name}: only a layer's own parameters can be used",
                                e.span, "bind the layer inside the block and use its weight there", code="E223")
        if spec.source != "torch" or spec.type_name not in PARAM_SHAPES:
            known = ", ".join(sorted(n for n in PARAM_SHAPES if "Transpose" not in n and not n[-2:-1].isdigit()))
            raise self.ctx.fail(f"specc does not know the parameters of {spec.type_name}", e.span,
                                f"it knows them for {known} and the convolutions and norms", code="E223")
        inst = spec.inst or self._unapplied(spec, e)
        entry = NN_MODULES[inst.target]
        shapes = PARAM_SHAPES[inst.target]({**signatures.defaults(entry),
                                            **dict(zip(signatures.positional_names(entry), inst.args)), **inst.kwargs})
        if e.attr not in shapes:
            hint = did_you_mean(e.attr, shapes) or (f"its parameters: {', '.join(shapes)}" if shapes else
                                                    f"this {inst.target} has no parameters")
            raise self.ctx.fail(f"{owner} = {inst.target}(...) has no parameter '{e.attr}'", e.span, hint, code="E225")
        return self.emit("param", f"{inst.name}.{e.attr}", (), {}, TensorType("float", shapes[e.attr], None), e.span,
                         f"{owner}_{e.attr}")

    def _unapplied(self, spec: LayerSpec, e: ast.Attr) -> LayerInst:
        """The instance of a layer whose weight is used before it is applied: possible when the
        spec writes all its sizes (``Embedding(1000, 128)``); the first application fills in the
        input it sees."""
        rule = RULES.get(spec.type_name)
        owner = e.value.id
        if rule is None or rule.infer:
            raise self.ctx.fail(f"{owner}.{e.attr}: {owner} = {spec.type_name}(...) is not applied yet, so its sizes "
                                "are not known", e.span,
                                f"apply it first ({owner}(x) or x -> {owner}), then use {owner}.{e.attr}", code="E224")
        try:
            bound = self._bind(spec, rule, (), [])
            check_args(spec.type_name, bound)
            params = check_size(spec.type_name, bound)
        except ArgProblem as p:
            raise self.ctx.fail(f"{spec.type_name}(...): {p.message}", self._arg_span(spec, rule, p.arg), p.hint,
                                code="E152")
        except ShapeProblem as p:
            raise self.ctx.fail(p.message, spec.span, p.hint, code="E201")
        inst = self._instance(spec, (), [], None, e.span, params)
        inst.uses.clear()
        return inst

    # ------------------------------------------------------------ functions
    def call_function(self, stage: FuncStage, lead: list[Value], span: Span) -> Value:
        """``name(*lead, *stage.args, **stage.kwargs)`` for a catalogue function or loss."""
        if "." in stage.name:
            return meta.call_imported_function(self, stage, lead, span)
        if stage.name in LOSSES and self.loss:
            from .losses import apply_loss
            return apply_loss(self, stage, lead, span)
        rule = FUNCTIONS[stage.name]
        values = [*lead, *stage.args]
        spans = [span] * len(lead) + list(stage.arg_spans)
        stage, values, spans = self._tensor_kwargs(stage, rule, values, spans)
        n = rule.tensors if rule.tensors is not None else sum(isinstance(v, (Tensor, Tup, Poison)) for v in values)
        tensors, rest = values[:n], values[n:]
        for i, v in enumerate(tensors):
            if isinstance(v, Poison):
                raise Failed()
            if rule.scalars and isinstance(v, Const) and is_number(v.value):   # the number is passed as it is
                tensors[i] = Tensor(v.value, TensorType("float" if isinstance(v.value, float) else "long", (), None))
            elif not isinstance(v, Tensor):
                raise self.ctx.fail(f"{stage.name} wants a tensor as argument {i + 1}, got {describe(v)}",
                                    spans[i] if i < len(spans) else span, code="E190")
        if not tensors and n != 0:
            raise self.ctx.fail(f"{stage.name} needs a tensor to work on", span, code="E190")
        if len(tensors) < n:
            raise self.ctx.fail(f"{stage.name} takes {n} tensors, got {len(tensors)}", span,
                                f"in a pipeline the input is the first: x -> {stage.name}(y)", code="E190")
        a = self._function_args(stage, rule, rest, spans[n:], span)
        types = [t.type for t in tensors]
        try:
            out = rule.out(types, a, self.loss)
            steps = rule.lower([t.ref for t in tensors], a, types, self.loss)
        except ShapeProblem as p:
            raise self.ctx.fail(p.message, span, p.hint, code="E204")
        result = None
        for op, target, args, kwargs in steps:
            args = tuple(result.ref if x is PREV else x for x in _plain(args))
            kwargs = {k: self.device_ref(span) if v is DEVICE else v for k, v in _plain(kwargs).items()}
            if op == "module":
                inst = self._instance(LayerSpec(target, "torch", list(args), dict(kwargs), span), (), types, out, span)
                result = self._call_layer(inst, tuple(t.ref for t in tensors), out, span)
            else:
                result = self.emit(op, target, args, kwargs, out, span, stage.name)
        return result

    def _tensor_kwargs(self, stage: FuncStage, rule, values: list, spans: list):
        """Move the tensors passed by keyword (``linear(x, w, bias=b)``) behind the others; ``none``
        leaves the input out."""
        if not any(k in stage.kwargs for k in rule.tensor_kwargs):
            return stage, values, spans
        kwargs, kw_spans = dict(stage.kwargs), dict(stage.kwarg_spans)
        values, spans = list(values), list(spans)
        for k in rule.tensor_kwargs:
            if k in kwargs:
                v, where = kwargs.pop(k), kw_spans.pop(k, stage.span)
                if isinstance(v, Const) and v.value is None:
                    continue
                if not isinstance(v, (Tensor, Poison)):
                    raise self.ctx.fail(f"{stage.name}: '{k}' takes a tensor or none, got {describe(v)}", where,
                                        code="E190")
                values.append(v)
                spans.append(where)
        return replace(stage, kwargs=kwargs, kwarg_spans=kw_spans), values, spans

    def device_ref(self, span: Span) -> Ref:
        """Where a builder makes its tensor: the device of the graph's first input, read once."""
        if getattr(self, "_device", None) is None:
            if not self.ir.inputs:
                raise self.ctx.fail("a builder (arange, ones, zeros, causal_mask) works inside a model or block",
                                    span, code="E196")
            first = self.ir.inputs[0][0]
            name = self.values.fresh("device")
            self.ir.ops.append(Op(name, "attr", "device", (Ref(first),), {}, DeviceType(), Span()))
            self._device = Ref(name)
        return self._device

    def _function_args(self, stage: FuncStage, rule, rest: list[Value], spans, span) -> dict:
        names = [n for n, _ in rule.params]
        a: dict = {}
        if rule.variadic:
            if any(not isinstance(v, (Const, SymInt)) for v in rest):
                raise self.ctx.fail(f"{stage.name} takes whole numbers after its tensor", span, code="E191")
            values = [v.value if isinstance(v, Const) else v for v in rest]
            if len(values) == 1 and isinstance(values[0], (list, tuple)):
                values = list(values[0])
            if values:
                a[names[0]] = tuple(values)
        else:
            if len(rest) > len(names):
                raise self.ctx.fail(f"{stage.name} takes at most {len(names)} setting(s) after its tensor(s), "
                                    f"got {len(rest)}", spans[len(names)] if len(spans) > len(names) else span,
                                    code="E192")
            for name, v, sp in zip(names, rest, spans):
                if isinstance(v, SymInt):
                    a[name] = v
                    continue
                if not isinstance(v, Const):
                    raise self.ctx.fail(f"{stage.name}: '{name}' must be a constant, got {describe(v)}", sp,
                                        code="E193")
                a[name] = v.value
        for k, v in stage.kwargs.items():
            if k not in names:
                raise self.ctx.fail(f"{stage.name}() got an unexpected keyword argument '{k}'",
                                    stage.kwarg_spans.get(k, span), did_you_mean(k, names), code="E194")
            if k in a:
                raise self.ctx.fail(f"{stage.name}() got '{k}' twice", stage.kwarg_spans.get(k, span), code="E194")
            if isinstance(v, SymInt):
                a[k] = v
                continue
            if not isinstance(v, Const):
                raise self.ctx.fail(f"{stage.name}: '{k}' must be a constant, got {describe(v)}",
                                    stage.kwarg_spans.get(k, span), code="E193")
            a[k] = v.value
        for name, default in rule.params:
            if name not in a:
                if default is REQUIRED:
                    raise self.ctx.fail(f"{stage.name}() missing required argument '{name}'", span, code="E195")
                a[name] = default
        return a

    # ------------------------------------------------------------ indexing
    def index_tensor(self, v: Tensor, e: ast.Index) -> Value:
        t = v.type
        full = list(t.full)
        items = list(e.items)
        n_ell = sum(isinstance(i, ast.EllipsisExpr) for i in items)
        if n_ell > 1:
            raise self.ctx.fail("an index has at most one '...'", e.span, code="E124")
        n_real = len(items) - n_ell
        if n_real > len(full):
            raise self.ctx.fail(f"too many indices ({n_real}) for a tensor of shape {t.batched}", e.span, code="E124")
        if n_ell:
            k = next(i for i, x in enumerate(items) if isinstance(x, ast.EllipsisExpr))
            items = items[:k] + [None] * (len(full) - n_real) + items[k + 1:]
        items += [None] * (len(full) - len(items))
        out, index = [], []
        for d, (item, size) in enumerate(zip(items, full)):
            if item is None:
                out.append(size)
                index.append(slice(None))
                continue
            if isinstance(item, ast.Slice):
                bounds = [self._index_const(b, b is item.upper) if b is not None else None
                          for b in (item.lower, item.upper, item.step)]
                sl = slice(*bounds)
                if d == t.batch_dim and sl != slice(None):
                    raise self.ctx.fail(f"dim {d} of {t.batched} is the batch: it can only be kept whole with ':'",
                                        item.span, "dims count as in PyTorch: t[:, 0] takes the first feature",
                                        code="E125")
                if sl.step is not None and sl.step < 1:
                    raise self.ctx.fail("a slice step must be positive", item.span, code="E125")
                out.append(_slice_len(size, sl))
                index.append(sl)
                continue
            i = self._index_const(item)
            if d == t.batch_dim:
                raise self.ctx.fail(f"t[{i}] would pick one example out of the batch of {t.batched}", item.span,
                                    "dims count as in PyTorch: write t[:, i] to index the first feature dim",
                                    code="E125")
            if is_int(size) and not -size <= i < size:
                raise self.ctx.fail(f"index {i} is out of range for dim {d} of size {size} in {t.batched}", item.span,
                                    code="E126")
            index.append(i)
        new_type = TensorType.from_full(t.dtype, tuple(out))
        index = [slice(*(b.ref if isinstance(b, SymInt) else b for b in (i.start, i.stop, i.step)))
                 if isinstance(i, slice) else i for i in index]
        key = tuple(index) if len(index) > 1 else index[0]
        return self.emit("getitem", "operator.getitem", (v.ref, key), {}, new_type, e.span, "getitem")

    def _index_const(self, e, size_ok: bool = False):
        """A whole-number index; ``size_ok``: the end of a slice may be a dim that varies (``pos[:t]``)."""
        c = self.expr(e)
        if size_ok and isinstance(c, SymInt):
            return c
        if not (isinstance(c, Const) and is_int(c.value)):
            raise self.ctx.fail(f"an index must be a whole number, got {describe(c)}", e.span, code="E127")
        return c.value


def _tensor_params(block: ast.Block) -> list[str]:
    return [p.name for p in block.params if p.type.is_tensor]


def _unbatched(t):
    """A layer's output type for an input without a batch dim: the same, without the batch."""
    if isinstance(t, TupleType):
        return TupleType(tuple(_unbatched(i) for i in t.items))
    return TensorType(t.dtype, t.shape, None) if isinstance(t, TensorType) else t


def _plain(value):
    """Step arguments with each size that varies between batches (:class:`SymInt`) as its reference."""
    if isinstance(value, SymInt):
        return value.ref
    if isinstance(value, tuple):
        return tuple(_plain(v) for v in value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _skipped(name: str) -> int:
    """How many leading constructor parameters a spec's positional arguments skip: the sizes
    inferred from the input (``Linear(50)`` is ``out_features``), unless those are all that
    torch requires: then, as in torch, the first is the size (``BatchNorm1d(4)``, ``LayerNorm(4)``),
    checked against the input."""
    rule = RULES.get(name)
    if rule is None or set(signatures.required_names(NN_MODULES[name])) <= set(rule.infer):
        return 0
    return len(rule.infer)


def _after_sizes(spec: LayerSpec, rule) -> list:
    """The spec's positional arguments that follow the inferred sizes."""
    return spec.args[len(rule.infer) - _skipped(spec.type_name):]


def _same_size(written, inferred) -> bool:
    """``LayerNorm(normalized_shape=[4])`` names the size 4 as well as ``4`` does."""
    return written == inferred or (isinstance(written, (list, tuple)) and list(written) == [inferred])


def _slice_len(size, sl: slice):
    if isinstance(sl.stop, SymInt):
        if sl.start not in (None, 0) or sl.step not in (None, 1):
            return f"{size}[{sl.start or ''}:{sl.stop.size}{'' if sl.step in (None, 1) else f':{sl.step}'}]"
        return sl.stop.size                # pos[:t] has t rows (torch would stop at the end of pos)
    if is_int(size):
        return len(range(*sl.indices(size)))
    if sl.start in (None, 0) and sl.stop is None and sl.step in (None, 1):
        return size                      # ':' keeps a symbolic dim (and the batch) as it is
    lo, hi, step = sl.start, sl.stop, sl.step or 1
    if step == 1 and (lo is None or lo >= 0) and hi is not None and hi >= 0:
        return hi - (lo or 0)
    return f"{size}[{'' if lo is None else lo}:{'' if hi is None else hi}{'' if step == 1 else f':{step}'}]"


__all__ = ["Applier"]
