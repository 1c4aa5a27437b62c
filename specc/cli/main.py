"""``specc check | fmt | config | summary | compile | run | predict | evaluate | export``, and
``specc --version``.

Exit codes: 0 success; 1 an environment problem or an internal error (one plain message;
``--debug`` shows the traceback); 2 a mistake in a spec or its data (positioned messages).
"""
from __future__ import annotations

import argparse
import functools
import gc
import json
import os
import signal
import sys
from pathlib import Path
import warnings

from ..errors import RunError, SpecError, TorchTablesWarning


class _Version(argparse.Action):
    """``--version``: ``specc X.Y.Z (torch A.B.C)``; torch is imported only when it is asked for."""

    def __init__(self, option_strings, dest, **kwargs):
        super().__init__(option_strings, dest, nargs=0, help="print the versions of specc and torch and exit")

    def __call__(self, parser, namespace, values, option_string=None):
        from .. import __version__
        try:
            import torch
            found = f"torch {torch.__version__}"
        except ImportError:
            found = "torch not installed"
        print(f"specc {__version__} ({found})")
        parser.exit()


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="specc", description="Declarative model specs for PyTorch.")
    p.add_argument("--version", action=_Version)
    p.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser("check", help="parse, resolve names and check shapes")
    c.add_argument("files", nargs="+")
    f = sub.add_parser("fmt", help="print a spec in canonical layout")
    f.add_argument("files", nargs="+")
    mode = f.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="exit 1 if a file is not formatted")
    mode.add_argument("--write", action="store_true", help="rewrite the files in place")
    g = sub.add_parser("config", help="print the spec with its --set values applied, in canonical layout")
    g.add_argument("file")
    g.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override an entry")
    s = sub.add_parser("summary", help="layers, output shapes and parameter counts")
    s.add_argument("file")
    s.add_argument("--model")
    s.add_argument("--json", action="store_true")
    s.add_argument("--wide", action="store_true", help="as wide as the table needs, even on a terminal")
    k = sub.add_parser("compile", help="write the models as standalone PyTorch source")
    k.add_argument("file")
    k.add_argument("-o", "--output")
    k.add_argument("--model", help="write this model only (default: every model, one class each)")
    k.add_argument("--force", action="store_true", help="write -o over a spec or an imported file")
    k.add_argument("--with-data", action="store_true",
                   help="also write the data preprocessing as functions (reads the data, as a run does)")
    r = sub.add_parser("run", help="train the spec's model")
    r.add_argument("file")
    r.add_argument("--out", help="output folder (default runs/<spec>/<timestamp>)")
    r.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override an entry")
    r.add_argument("--device")
    r.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    r.add_argument("--force", action="store_true", help="resume across spec changes / reuse a used --out")
    r.add_argument("--quiet", action="store_true")
    r.add_argument("--log", choices=["tensorboard"], help="also log every epoch there (as train.log)")
    d = r.add_argument_group("distributed (through torch.distributed.run, i.e. torchrun)")
    d.add_argument("--nproc", type=int, help="processes on this machine, one per device (default: train.devices)")
    d.add_argument("--nnodes", type=int, default=1, help="machines taking part")
    d.add_argument("--node-rank", type=int, default=0, help="this machine's number, 0 to nnodes-1")
    d.add_argument("--master-addr", help="address of the machine with node rank 0")
    d.add_argument("--master-port", type=int, help="a free port on that machine (default 29500)")
    d.add_argument("--backend", choices=["gloo", "nccl"], help="default: nccl on CUDA, gloo on CPU")
    pr = sub.add_parser("predict", help="predict with a trained run on raw inputs")
    pr.add_argument("run", help="the run folder")
    pr.add_argument("inputs", nargs="*", metavar="INPUT", help="CSV files, image or text files or folders")
    pr.add_argument("--values", help='inline examples as JSON, e.g. "[[0.5, 1.0]]"')
    pr.add_argument("--json", action="store_true", help="a JSON list, one object per input")
    pr.add_argument("-o", "--output", help="write the predictions to a CSV file")
    pr.add_argument("--batch", type=int, help="examples per batch")
    pr.add_argument("--device")
    pr.add_argument("--proba", action="store_true", help="the probability of each class")
    x = sub.add_parser("export", help="write a trained run's model as ONNX, torch.export or TorchScript")
    x.add_argument("run", help="the run folder")
    x.add_argument("--format", required=True, choices=["onnx", "torch-export", "torchscript"])
    x.add_argument("-o", "--output", help="the file to write (default RUN/model.onnx, .pt2 or .pt)")
    x.add_argument("--preprocess", action="store_true",
                   help="put the numeric preprocessing (transform, normalize) into the exported graph")
    x.add_argument("--force", action="store_true", help="write over an existing file")
    e = sub.add_parser("evaluate", help="score a trained run on held-out or new labelled data")
    e.add_argument("run", help="the run folder")
    e.add_argument("--data", help='labelled data: a file like the training data, or a source: csv("new.csv")')
    e.add_argument("--split", choices=("valid", "test"), default="valid")
    e.add_argument("--device")
    e.add_argument("--json", action="store_true")
    return p


def _load_checked(path: str, model: str | None = None, sets: list[str] | None = None):
    from ..analysis.check import check
    from ..syntax.overrides import apply_overrides
    from ..syntax.spec import read_spec_file

    spec = read_spec_file(path, defer_sections=True)
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
    from ..syntax.spec import read_spec_text

    status = 0
    for path in args.files:
        text = read_spec_text(path)
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


def cmd_config(args) -> int:
    from ..syntax.fmt import format_resolved

    sys.stdout.write(format_resolved(_load_checked(args.file, None, args.set).spec))
    return 0


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
        summary_table(data, f"{name} ({args.file})", wide=args.wide or not sys.stdout.isatty())
    return 0


def cmd_compile(args) -> int:
    from ..compile.codegen import to_source

    checked = _load_checked(args.file, args.model)
    data = None
    if args.with_data:
        from ..run import data_facts
        if len(checked.inputs) != 1:   # (before any data is read)
            raise RunError(f"--with-data writes the preprocessing of a model with one input; "
                           f"{checked.model_name(args.model)} has {len(checked.inputs)}",
                           "compile without --with-data")
        data = data_facts(checked)
    source = to_source(checked, args.model, data)
    if args.output:
        if not args.force:
            _refuse_overwrite(Path(args.output), checked)
        try:
            Path(args.output).write_text(source, encoding="utf-8")
        except OSError as exc:
            raise RunError(f"cannot write {args.output}: {exc.strerror or exc}") from None
        print(f"wrote {args.output}")
    else:
        sys.stdout.write(source)
    return 0


def _refuse_overwrite(output: Path, checked) -> None:
    """``-o`` never replaces a spec (this one or another) or a file the spec imports."""
    from ..analysis.imports import loaded_modules

    if not output.exists():
        return
    imported = [Path(m.__file__) for m in loaded_modules(checked.spec).values() if getattr(m, "__file__", None)]
    what = ("the spec itself" if output.samefile(checked.spec.path) else
            "a spec" if output.suffix == ".spec" else
            "a file the spec imports" if any(p.exists() and output.samefile(p) for p in imported) else None)
    if what is not None:
        raise RunError(f"-o {output} is {what}; compile does not write over it",
                       "choose another -o file (for example model.py), or add --force")


def _launch_args(args) -> list[str]:
    """``specc run``'s own arguments, for each worker (without the launcher's)."""
    out = [args.file, *(x for s in args.set for x in ("--set", s))]
    for flag in ("out", "device", "log", "backend"):
        if getattr(args, flag):
            out += [f"--{flag}", getattr(args, flag)]
    return out + [f"--{flag}" for flag in ("resume", "force", "quiet") if getattr(args, flag)]


def cmd_run(args) -> int:
    from ..analysis.check import check
    from ..run import run_spec
    from ..syntax.overrides import apply_overrides
    from ..syntax.spec import read_spec_file
    from ..training.distributed import from_env

    sets = (args.set + ([f"train.log={args.log}"] if args.log else [])
            + ([f"train.backend={args.backend}"] if args.backend else []))
    spec = read_spec_file(args.file, defer_sections=True)
    overridden = apply_overrides(spec, sets) if sets else spec
    nproc = args.nproc or overridden.train_options.devices
    if from_env() is None and (nproc > 1 or args.nnodes > 1):
        from .launch import launch, torchrun_command
        if nproc < 1 or args.nnodes < 1 or not 0 <= args.node_rank < args.nnodes:
            raise RunError("--nproc and --nnodes must be at least 1, and --node-rank below --nnodes")
        check(overridden)      # a mistake is found before any worker starts
        return launch(torchrun_command(nproc, args.nnodes, args.node_rank, args.master_addr,
                                       args.master_port, _launch_args(args)))
    result = run_spec(spec, sets, out=args.out, device=args.device, resume=args.resume,
                      force=args.force, quiet=args.quiet)
    if args.quiet:  # the reporter showed nothing; a skipped plot the spec asked for is still worth a line
        for note in result.notes:
            print(f"note: {note}", file=sys.stderr)
    return 130 if result.interrupted else 0


def _option_error(where: str, message: str, hint: str | None = None) -> SpecError:
    from ..errors import Diagnostic, Span
    return SpecError(Diagnostic(message, Span(), hint, "E912", where))


def cmd_predict(args) -> int:
    from ..inference import load_run, parse_values
    from .render import write_predictions

    if (args.values is None) == (not args.inputs):
        raise _option_error("predict", "predict takes INPUT files or --values, one of the two",
                            'e.g. specc predict RUN data.csv, or specc predict RUN --values "[[0.5, 1.0]]"')
    if args.batch is not None and args.batch < 1:
        raise _option_error("--batch", f"--batch must be at least 1, got {args.batch}")
    run = load_run(args.run, args.device)
    inputs = parse_values(args.values) if args.values is not None else args.inputs
    try:
        write_predictions(run.predictions(inputs, batch=args.batch, proba=args.proba), args.json, args.output,
                          run.classes if args.proba else None)
    except BrokenPipeError:   # the reader stopped (| head): the rest is not wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


def cmd_evaluate(args) -> int:
    from ..inference import load_run
    from .render import metrics_table

    run = load_run(args.run, args.device)
    scores = run.evaluate(args.data, args.split)
    where = args.data or f"{args.split} split"
    if args.json:
        print(json.dumps({"data": where, **scores}, indent=2))
    else:
        metrics_table(scores, f"{args.run} on {where}")
    return 0


def cmd_export(args) -> int:
    from ..errors import Diagnostic, Span
    from ..export import ExportError, export_run
    from ..inference import load_run

    run = load_run(args.run)
    try:
        done = export_run(run, args.format, args.output, preprocess=args.preprocess, force=args.force)
    except ExportError as err:
        if err.missing:
            raise RunError(err.message, err.hint) from None
        raise SpecError(Diagnostic(err.message, Span(), err.hint, "E950", str(run.path))) from None
    print(f"wrote {done.path} ({done.format} via {done.exporter}; dynamic: {', '.join(done.dynamic)}"
          + ("; preprocessing included" if done.preprocess else "")
          + f"; loaded back and checked on {done.checks} sample batches, largest difference {done.max_error:.2g})")
    return 0


_COMMANDS = {"check": cmd_check, "fmt": cmd_fmt, "config": cmd_config, "summary": cmd_summary,
             "compile": cmd_compile, "run": cmd_run, "predict": cmd_predict, "evaluate": cmd_evaluate,
             "export": cmd_export}


def _report(err: SpecError) -> None:
    from .render import diagnostics
    diagnostics(err.diagnostics, err.source)


def _warning_line(show, message, category, filename, lineno, file=None, line=None) -> None:
    """specc's own warnings as one ``specc: warning:`` line; any other as ``show`` prints it."""
    if issubclass(category, TorchTablesWarning):
        print(f"specc: warning: {message}", file=sys.stderr)
    else:
        show(message, category, filename, lineno, file, line)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    show = warnings.showwarning
    warnings.showwarning = functools.partial(_warning_line, show)
    try:
        code = _main(args)
    finally:
        warnings.showwarning = show
    if code and os.environ.get("SPECC_LAUNCHED") and "RANK" in os.environ:
        from .launch import EXIT_MARK
        sys.stderr.write(f"{EXIT_MARK}{code}\n")     # one write, for specc run --nproc
        sys.stderr.flush()
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
