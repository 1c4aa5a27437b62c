"""``specc check | fmt | summary | compile | run``.

Exit codes: 0 success; 1 an environment problem or an internal error (one plain message;
``--debug`` shows the traceback); 2 a mistake in a spec or its data (positioned messages).
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import signal
import sys
from pathlib import Path

from ..errors import RunError, SpecError


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="specc", description="Declarative model specs for PyTorch.")
    p.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser("check", help="parse, resolve names and check shapes")
    c.add_argument("files", nargs="+")
    f = sub.add_parser("fmt", help="print a spec in canonical layout")
    f.add_argument("files", nargs="+")
    mode = f.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="exit 1 if a file is not formatted")
    mode.add_argument("--write", action="store_true", help="rewrite the files in place")
    s = sub.add_parser("summary", help="layers, output shapes and parameter counts")
    s.add_argument("file")
    s.add_argument("--model")
    s.add_argument("--json", action="store_true")
    k = sub.add_parser("compile", help="write the model as standalone PyTorch source")
    k.add_argument("file")
    k.add_argument("-o", "--output")
    k.add_argument("--model")
    r = sub.add_parser("run", help="train the spec's model")
    r.add_argument("file")
    r.add_argument("--out", help="output folder (default runs/<spec>/<timestamp>)")
    r.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override an entry")
    r.add_argument("--device")
    r.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    r.add_argument("--force", action="store_true", help="resume across spec changes / reuse a used --out")
    r.add_argument("--quiet", action="store_true")
    d = r.add_argument_group("distributed (through torch.distributed.run, i.e. torchrun)")
    d.add_argument("--nproc", type=int, help="processes on this machine, one per device (default: train.devices)")
    d.add_argument("--nnodes", type=int, default=1, help="machines taking part")
    d.add_argument("--node-rank", type=int, default=0, help="this machine's number, 0 to nnodes-1")
    d.add_argument("--master-addr", help="address of the machine with node rank 0")
    d.add_argument("--master-port", type=int, help="a free port on that machine (default 29500)")
    d.add_argument("--backend", choices=["gloo", "nccl"], help="default: nccl on CUDA, gloo on CPU")
    return p


def _load_checked(path: str, model: str | None = None, sets: list[str] | None = None):
    from ..analysis.check import check
    from ..syntax.overrides import apply_overrides
    from ..syntax.spec import read_spec_file

    spec = read_spec_file(path)
    if sets:
        spec = apply_overrides(spec, sets)
    return check(spec, model)


def cmd_check(args) -> int:
    status = 0
    for path in args.files:
        try:
            checked = _load_checked(path)
        except SpecError as err:
            _report(err)
            status = 2
            continue
        extra = ""
        if checked.imports:
            extra = "; imports " + ", ".join(checked.imports.values())
        models = ", ".join(checked.program.models)
        print(f"ok {path} (model{'s' if len(checked.program.models) > 1 else ''} {models}{extra})")
    return status


def cmd_fmt(args) -> int:
    from ..syntax.fmt import format_spec
    from ..syntax.spec import decode

    status = 0
    for path in args.files:
        try:
            raw = Path(path).read_bytes()
        except OSError as exc:
            raise SpecError(_file_diag(path, exc)) from None
        text = decode(raw, path)
        out = format_spec(text, path)
        if args.check:
            if out != text:
                print(f"would reformat {path}")
                status = 1
        elif args.write:
            if out != text:
                try:
                    Path(path).write_text(out, encoding="utf-8")
                except OSError as exc:
                    raise RunError(f"cannot write {path}: {exc.strerror or exc}",
                                   "check the file's permissions, or format to stdout without --write") from None
                print(f"reformatted {path}")
        else:
            sys.stdout.write(out)
    return status


def _file_diag(path, exc):
    from ..errors import Diagnostic, Span
    return Diagnostic(f"cannot read {path}: {exc.strerror or exc}", Span(), code="E050", path=str(path))


def cmd_summary(args) -> int:
    from .. import build
    from ..compile.summary import summarise
    from .render import summary_table

    checked = _load_checked(args.file, args.model)
    name = checked.model_name(args.model)
    data = summarise(checked, build(checked, name), name)
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        summary_table(data, f"{name} ({args.file})")
    return 0


def cmd_compile(args) -> int:
    from ..compile.codegen import to_source

    checked = _load_checked(args.file, args.model)
    source = to_source(checked, args.model)
    if args.output:
        try:
            Path(args.output).write_text(source, encoding="utf-8")
        except OSError as exc:
            raise RunError(f"cannot write {args.output}: {exc.strerror or exc}") from None
        print(f"wrote {args.output}")
    else:
        sys.stdout.write(source)
    return 0


def _launch_args(args) -> list[str]:
    """``specc run``'s own arguments, for each worker (without the launcher's)."""
    out = [args.file, *(x for s in args.set for x in ("--set", s))]
    for flag in ("out", "device"):
        if getattr(args, flag):
            out += [f"--{flag}", getattr(args, flag)]
    out += [f"--{flag}" for flag in ("resume", "force", "quiet") if getattr(args, flag)]
    return out + ["--set", f"train.backend={args.backend}"] if args.backend else out


def cmd_run(args) -> int:
    from ..run import run_checked
    from ..training.distributed import from_env

    checked = _load_checked(args.file, None, args.set)
    nproc = args.nproc or checked.spec.train_options.devices
    if from_env() is None and (nproc > 1 or args.nnodes > 1):
        from .launch import launch, torchrun_command
        if nproc < 1 or args.nnodes < 1 or not 0 <= args.node_rank < args.nnodes:
            raise RunError("--nproc and --nnodes must be at least 1, and --node-rank below --nnodes")
        return launch(torchrun_command(nproc, args.nnodes, args.node_rank, args.master_addr,
                                       args.master_port, _launch_args(args)))
    if args.backend:
        checked = _load_checked(args.file, None, [*args.set, f"train.backend={args.backend}"])
    result = run_checked(checked, out=args.out, device=args.device, resume=args.resume, force=args.force,
                         quiet=args.quiet)
    if args.quiet:  # the reporter showed nothing; a skipped plot the spec asked for is still worth a line
        for note in result.notes:
            print(f"note: {note}", file=sys.stderr)
    return 130 if result.interrupted else 0


_COMMANDS = {"check": cmd_check, "fmt": cmd_fmt, "summary": cmd_summary, "compile": cmd_compile, "run": cmd_run}


def _report(err: SpecError) -> None:
    from .render import diagnostics
    diagnostics(err.diagnostics, err.source)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    code = _main(args)
    if code and os.environ.get("SPECC_LAUNCHED") and "RANK" in os.environ:
        from .launch import EXIT_MARK
        print(f"{EXIT_MARK}{code}", file=sys.stderr)     # for specc run --nproc
    return code


def _rank_prefix() -> str:
    """``[rank 1] `` in a process of a distributed run, so a failure names its worker."""
    world = os.environ.get("WORLD_SIZE", "1")
    return f"[rank {os.environ.get('RANK')}] " if world.isdigit() and int(world) > 1 else ""


def _main(args) -> int:
    try:
        return _COMMANDS[args.command](args)
    except SpecError as err:
        if _rank_prefix():
            print(f"specc: {_rank_prefix()}stopped on a mistake in the spec or its data:", file=sys.stderr)
        _report(err)
        return 2
    except RunError as exc:
        print(f"specc: {_rank_prefix()}error: {exc.message}" + (f"\nhint: {exc.hint}" if exc.hint else ""),
              file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("specc: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # an internal error: short, unless --debug
        if args.debug:
            raise
        print(f"specc: {_rank_prefix()}internal error: {type(exc).__name__}: {exc} "
              "(run with --debug for the traceback)", file=sys.stderr)
        return 1


def entry() -> int:
    """The ``specc`` program: :func:`main`, then ``gc.freeze()`` as the process ends.

    Once ``main`` has returned, the exit code is decided and every file is written, so a
    Ctrl-C during the interpreter's shutdown is ignored rather than turned into a death by
    SIGINT with a different exit status.

    After ``import torch`` (and ``torch._dynamo``, which the first optimiser loads) the
    interpreter's shutdown spends about half a second in cyclic garbage collection over the
    modules' objects; frozen objects are skipped. Nothing is lost: files are closed, atexit
    handlers run, and Python does not promise finalizers at exit. ``main`` itself leaves the
    collector alone, so calling it in a long-lived process stays safe.
    """
    code = main()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    gc.freeze()
    return code
