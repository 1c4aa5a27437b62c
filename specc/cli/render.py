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
