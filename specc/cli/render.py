"""Rendering for people: diagnostics, the summary table. Rich is imported only when used."""
from __future__ import annotations

import sys

from ..errors import Diagnostic, caret_prefix, source_line


def diagnostics(diags: list[Diagnostic], source: str | None, stream=None) -> None:
    """``path:line:col: error: message``, the source line, a caret and the hint, per diagnostic."""
    stream = stream or sys.stderr
    color = stream.isatty()
    red, bold, cyan, dim, off = ("\x1b[31m", "\x1b[1m", "\x1b[36m", "\x1b[2m", "\x1b[0m") if color else ("",) * 5
    for d in diags:
        stream.write(f"{bold}{d.path}:{d.span.line}:{d.span.column}:{off} {red}{bold}error:{off} {bold}{d.message}{off}\n")
        text = d.source(source)
        line = source_line(text, d.span.line) if text else None
        if line is not None and d.span.line >= 1:
            shown = line if len(line) <= 200 else line[:200] + " ..."
            stream.write(f"    {dim}{shown}{off}\n")
            if d.span.column - 1 <= len(shown):
                stream.write(f"    {caret_prefix(shown, d.span.column)}{red}^{off}\n")
        if d.hint:
            stream.write(f"{cyan}hint:{off} {d.hint}\n")


def summary_table(data: dict, title: str, wide: bool = False) -> None:
    """The summary as a table; ``wide``: as wide as its rows need (piped output, ``--wide``),
    else the terminal's width. A cell too long for its column wraps: it is never cut short."""
    from rich.console import Console
    from rich.measure import Measurement
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for col, justify in (("name", "left"), ("type", "left"), ("output shape", "left"), ("params", "right"),
                         ("shared", "left")):
        table.add_column(col, justify=justify, overflow="fold")
    for row in data["layers"]:
        table.add_row(row["name"], row["type"], row["output_shape"], f"{row['params']:,}", row["shared_with"])
    console = Console()
    if wide:
        natural = Measurement.get(console, console.options.update_width(sys.maxsize), table).maximum
        console = Console(width=max(natural, console.width))
    console.print(table)
    console.print(f"inputs: {', '.join(f'{k} {v}' for k, v in data['inputs'].items())}")
    console.print(f"output shape: {data['output_shape']}")
    console.print(f"total params: {data['total_params']:,}   trainable: {data['trainable_params']:,}")


def metrics_table(scores: dict, title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table()
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name, value in scores.items():
        table.add_row(name, f"{value:.6g}")
    console = Console()
    console.print(title)
    console.print(table)


def _shown(value) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def write_predictions(answers, as_json: bool, output: str | None, classes: list[str] | None) -> None:
    """Predictions as lines (``input: prediction``), a JSON list streamed item by item, or a
    CSV written to a temporary file and renamed over ``output`` only once it is complete."""
    import csv
    import json
    import os
    from pathlib import Path

    from ..errors import RunError

    if output is None and as_json:   # "[" only once the first answer is there: a bad input prints nothing
        opened = False
        for answer in answers:
            sys.stdout.write(("," if opened else "[") + "\n  " + json.dumps(answer))
            opened = True
        sys.stdout.write("\n]\n" if opened else "[]\n")
        return
    if output is None:
        for a in answers:
            extra = ""
            if "probabilities" in a:
                extra = "  " + (json.dumps(a["probabilities"]) if classes is None else
                                "(" + ", ".join(f"{c} {p:.4f}" for c, p in a["probabilities"].items()) + ")")
            shown = f"{a['input']}: " if isinstance(a["input"], str) else ""   # a file or row; values: in order
            print(f"{shown}{_shown(a['prediction'])}{extra}")
        return
    path = Path(output)
    tmp = path.with_name(f".{path.name}.partial")
    try:
        with tmp.open("w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            header = None
            for a in answers:
                if header is None:   # several outputs: a column each (JSON), probabilities as one JSON column
                    heads = list(a["prediction"]) if isinstance(a["prediction"], dict) else None
                    header = ["input", *(heads or ["prediction"]),
                              *(f"p_{c}" for c in classes or []), *(["probabilities"] if heads and "probabilities" in a
                                                                    else [])]
                    writer.writerow(header)
                probs = [a["probabilities"][c] for c in classes] if classes else []
                if heads:
                    values = [json.dumps(v) if isinstance(v, list) else v for v in a["prediction"].values()]
                    probs = [json.dumps(a["probabilities"])] if "probabilities" in a else []
                else:
                    prediction = a["prediction"]
                    values = [json.dumps(prediction) if isinstance(prediction, list) else prediction]
                writer.writerow([a["input"], *values, *probs])
            if header is None:
                writer.writerow(["input", "prediction", *(f"p_{c}" for c in classes or [])])
        os.replace(tmp, path)
    except OSError as exc:
        raise RunError(f"cannot write {output}: {exc.strerror or exc}", "choose another -o file") from None
    finally:
        tmp.unlink(missing_ok=True)
    print(f"wrote {output}")
