"""Reading the files behind file-backed sources, without torch.

Both the schema (``specc check``) and the loader (``specc run``) go through these functions,
so the two can never disagree about which files exist, which classes there are, or how a CSV
column is typed. Everything here is the standard library (``csv``, ``os``, ``pathlib``),
:mod:`specc.files`, through which every file is read, and, for CSV data, numpy (imported when
a CSV is read).

CSV typing rule (one place, used for ``csv`` and ``image_csv`` targets):

- every value is a whole number >= 0 (``0``, ``2``, ``17``): class indices, ``long``;
  ``classes`` is the largest value + 1;
- every value is a number but some are not whole (``1.5``) or some are negative: a
  regression target, ``float[1]``;
- anything else: class names; the sorted distinct names are the classes, and each value
  becomes its index in that sorted list (like scikit-learn's ``LabelEncoder``).

A ``csv`` source is read at numpy speed when its data lines are plain (no quotes): one pass
over the bytes checks every line's field count, then ``numpy.loadtxt`` parses just the columns
asked for (the schema reads the target column only; the loader also the features, once, into
one float32 array). Anything else (quoted fields, a bad or non-finite cell, a short row) is
read by the ``csv`` module as the reference, which words every error with its row and line.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
import io
import math
import os
from pathlib import Path
import re
import stat
from typing import TYPE_CHECKING, Callable, Sequence
import warnings

from specc.catalog.source_base import SourceError
from specc.errors import did_you_mean
from specc.files import FileProblem, check_file, kind_of, read_file

if TYPE_CHECKING:
    import numpy

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif",
                              ".tiff", ".ppm", ".pgm", ".pbm"})
"""What counts as an image file in a class folder (case-insensitive), as in torchvision."""

WIDE_MODES = {"I;16": 65535.0, "I;16L": 65535.0, "I;16B": 65535.0, "I;16N": 65535.0,
              "I": 65535.0, "F": 1.0}
"""Pillow's one-channel modes wider than 8 bits -> the value that becomes 1.0: 16-bit images
are divided by 65535; 32-bit integer images (``I``) too, so they must hold 0..65535 (as
16-bit files decoded by Pillow do); float images (``F``) are taken as they are. Every other
mode is converted to 8-bit ``RGB``/``L`` and divided by 255 (:mod:`specc.data.images`, and
the code ``specc compile --with-data`` writes)."""


def resolve(path: str, base_dir: Path | str) -> Path:
    """A path as written in a spec, relative to the spec's folder unless absolute."""
    p = Path(os.path.expanduser(path))
    return p if p.is_absolute() else Path(base_dir) / p


def read_data(path: Path, kind: str, arg: str) -> bytes:
    """The bytes of a data file, read by :func:`specc.files.read_file` (its kind and size rules)."""
    try:
        return read_file(path, kind)
    except FileProblem as exc:
        raise SourceError(exc.message, arg=arg) from None


def require_data_file(path: Path, kind: str, arg: str) -> None:
    """Refuse ``path`` unless :func:`specc.files.check_file` accepts it."""
    try:
        check_file(path, kind)
    except FileProblem as exc:
        raise SourceError(exc.message, arg=arg) from None


def require_dir(path: Path, arg: str) -> None:
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise SourceError(f"folder not found: {path}", arg=arg) from None
    except OSError as exc:
        raise SourceError(f"cannot read {path}: {exc.strerror}", arg=arg) from None
    if not stat.S_ISDIR(mode):
        raise SourceError(f"{path} is {kind_of(mode) or 'a file'}, not a folder", arg=arg)


# ---- CSV -----------------------------------------------------------------------------------

_PLAIN = re.compile(r"[\w .+\-()/]{0,40}")


def quote_field(value: str) -> str:
    """A CSV header name or value as a message shows it: quoted when it looks like a column
    name or a number, otherwise only its length. A spec may name any file as its CSV, and an
    error must not echo the contents of one that is not (``csv("/etc/shadow")``)."""
    return repr(value) if _PLAIN.fullmatch(value) else f"<{len(value)} characters>"


def listing(header: Sequence[str], most: int = 8) -> str:
    """``'a', 'b', 'c'`` for a hint: at most ``most`` header names, each :func:`quote_field`'d."""
    shown = ", ".join(quote_field(h) for h in header[:most])
    return shown + (f" and {len(header) - most} more" if len(header) > most else "")


@dataclass(frozen=True)
class CsvHeader:
    """A CSV file's column names."""

    path: Path
    header: list[str]

    def column(self, name: str, arg: str) -> int:
        """The index of column ``name``; a did-you-mean error against the header if absent."""
        if name in self.header:
            return self.header.index(name)
        raise SourceError(f"{self.path} has no column '{name}'", arg=arg,
                          hint=did_you_mean(name, [h for h in self.header if _PLAIN.fullmatch(h)])
                          or f"the columns are {listing(self.header)}")



@dataclass(frozen=True)
class CsvRows(CsvHeader):
    """A CSV file's header and data rows; ``lines[i]`` is the file line of ``rows[i]``."""

    rows: list[list[str]]
    lines: list[int]

    def where(self, i: int) -> str:
        """``path, row 3 (line 4)``: how messages point into the file."""
        return f"{self.path}, row {i + 1} (line {self.lines[i]})"


def read_csv(path: Path, arg: str, delimiter: str = ",") -> CsvRows:
    """Read a CSV with a header row; every data row must have as many fields as the header.

    Blank lines are skipped. Raises SourceError for a file specc does not read (missing, not a
    regular file, too large: :mod:`specc.files`), an empty file, a repeated column name, or a
    row with the wrong number of fields (naming the file and row).
    """
    text = read_data(path, "CSV", arg).decode("utf-8-sig", errors="replace")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next((r for r in reader if r), None)
        if header is None:
            raise SourceError(f"{path} is empty: a header row is required", arg=arg)
        header = _checked_header(path, header, arg)
        rows: list[list[str]] = []
        lines: list[int] = []
        for row in reader:
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            if len(row) != len(header):
                raise SourceError(
                    f"{path}, row {len(rows) + 1} (line {reader.line_num}): expected "
                    f"{len(header)} fields like the header, got {len(row)}", arg=arg)
            rows.append([v.strip() for v in row])
            lines.append(reader.line_num)
    except csv.Error as exc:
        raise SourceError(f"{path}, line {reader.line_num}: not CSV: {exc}", arg=arg) from None
    if not rows:
        raise SourceError(f"{path} has a header but no data rows", arg=arg)
    return CsvRows(path, header, rows, lines)


def _checked_header(path: Path, header: list[str], arg: str) -> list[str]:
    header = [h.strip() for h in header]
    dup = next((h for h in header if header.count(h) > 1), None)
    if dup is not None:
        raise SourceError(f"{path}: the header names column {quote_field(dup)} twice", arg=arg)
    return header


@dataclass(frozen=True)
class Target:
    """A typed target column: ``kind`` is ``"index"``, ``"float"`` or ``"name"``.

    ``values`` are class indices (``index``, ``name``) or numbers (``float``).
    """

    kind: str
    values: list
    classes: int | None
    class_names: list[str] | None


def _as_int(v: str) -> int | None:
    try:
        return int(v)
    except ValueError:
        return None


def _as_float(v: str) -> float | None:
    try:
        return float(v)
    except ValueError:
        return None


def type_target(raw: list[str], where: Callable[[int], str], column: str, arg: str) -> Target:
    """Apply the module's typing rule to one column's raw strings (``where(i)`` names row i)."""
    if "" in raw:
        raise SourceError(f"{where(raw.index(''))}: column {quote_field(column)} is empty", arg=arg)
    ints = [_as_int(v) for v in raw]
    if all(i is not None for i in ints) and min(ints) >= 0:
        return Target("index", ints, max(ints) + 1, None)
    floats = [_as_float(v) for v in raw]
    if all(f is not None for f in floats):
        bad = next((i for i, f in enumerate(floats) if not math.isfinite(f)), None)
        if bad is not None:
            raise SourceError(f"{where(bad)}: column {quote_field(column)} holds "
                              f"{quote_field(raw[bad])}; a target must be a finite number", arg=arg,
                              hint="fill in or drop the rows with missing values")
        return Target("float", floats, None, None)
    names = sorted(set(raw))
    index = {n: k for k, n in enumerate(names)}
    return Target("name", [index[v] for v in raw], len(names), names)


def float_columns(data: CsvRows, columns: Sequence[int], arg: str) -> list[list[float]]:
    """The chosen columns of every row as floats; a non-number is an error naming the row."""
    out: list[list[float]] = []
    for i, row in enumerate(data.rows):
        values = []
        for c in columns:
            f = _as_float(row[c])
            if f is not None and not math.isfinite(f):
                raise SourceError(f"{data.where(i)}: column {quote_field(data.header[c])} holds "
                                  f"{quote_field(row[c])}; features must be finite numbers", arg=arg,
                                  hint="fill in or drop the rows with missing values")
            if f is None:
                raise SourceError(f"{data.where(i)}: column {quote_field(data.header[c])} holds "
                                  f"{quote_field(row[c])}, not a number", arg=arg,
                                  hint="choose numeric columns with features=[...]")
            values.append(f)
        out.append(values)
    return out


@dataclass(frozen=True)
class CsvTable:
    """A ``csv`` source parsed: the float32 feature array ``[N, F]`` (None when only the targets
    were read), the features' column names and the typed targets by column name."""

    features: "numpy.ndarray | None"
    feature_names: list[str]
    targets: dict[str, Target]

    @property
    def target(self) -> Target:
        """The (first) target."""
        return next(iter(self.targets.values()))


def parse_csv(path: Path, target: "str | Sequence[str] | None", features: Sequence[str] | None,
              delimiter: str = ",", *, read_features: bool = True) -> CsvTable:
    """Parse a ``csv`` source: ``target`` (a column, or a list of them) defaults to the last
    column, ``features`` to all others.

    ``read_features=False`` (the schema) reads the header and the target column only: a bad
    feature cell is found when the data is loaded.
    """
    require_data_file(path, "CSV", "path")
    try:
        return _parse_plain(path, target, features, delimiter, read_features)
    except _NotPlain:
        pass
    data = read_csv(path, "path", delimiter)
    ts, cols = _choose_columns(data, target, features)
    typed = {data.header[t]: type_target([row[t] for row in data.rows], data.where, data.header[t], "target")
             for t in ts}
    x = None
    if read_features:
        import numpy
        x = numpy.array(float_columns(data, cols, "path"), dtype=numpy.float32)
    return CsvTable(x, [data.header[c] for c in cols], typed)


def _choose_columns(data: CsvHeader, target, features: Sequence[str] | None) -> tuple[list[int], list[int]]:
    """The targets' column indices and the feature columns' (errors name the argument)."""
    names = [target] if isinstance(target, str) else target
    twice = next((n for i, n in enumerate(names or []) if n in names[:i]), None)
    if twice is not None:
        raise SourceError(f"target lists the column '{twice}' twice", arg="target")
    ts = [data.column(n, "target") for n in names] if names is not None else [len(data.header) - 1]
    if features is None:
        cols = [c for c in range(len(data.header)) if c not in ts]
    else:
        cols = [data.column(name, "features") for name in features]
        both = next((c for c in cols if c in ts), None)
        if both is not None:
            raise SourceError(f"column {quote_field(data.header[both])} is a target; it cannot also be a "
                              f"feature", arg="features")
    if not cols:
        raise SourceError(f"{data.path} has no feature columns besides the target "
                          f"{', '.join(quote_field(data.header[t]) for t in ts)}", arg="path")
    return ts, cols


class _NotPlain(Exception):
    """The numpy path cannot decide this file: the ``csv`` module reads it, and words any error."""


def _parse_plain(path: Path, target, features, delimiter: str, read_features: bool) -> CsvTable:
    import numpy

    data, skip, n_rows = _scan_plain(path, delimiter)
    ts, cols = _choose_columns(data, target, features)

    def load(columns, dtype):
        try:
            with warnings.catch_warnings():   # numpy notes that blank lines are skipped: they are
                warnings.filterwarnings("ignore", "Input line", UserWarning)
                return numpy.loadtxt(path, dtype=dtype, delimiter=delimiter, skiprows=skip, usecols=columns,
                                     comments=None, quotechar=None, encoding="utf-8", ndmin=2)
        except ValueError:   # a cell that is not a number, or not UTF-8
            raise _NotPlain() from None

    def unplain(i: int) -> str:
        raise _NotPlain()

    columns = load(ts, str)
    raws = [[v.strip() for v in columns[:, i].tolist()] for i in range(len(ts))]
    typed = {data.header[t]: type_target(raw, unplain, data.header[t], "target") for t, raw in zip(ts, raws)}
    x = load(cols, numpy.float32) if read_features else None
    if any(len(raw) != n_rows for raw in raws) or (x is not None and (x.shape != (n_rows, len(cols))
                                                                     or not numpy.isfinite(x).all())):
        raise _NotPlain()   # the csv module names the row and column of a nan or inf
    return CsvTable(x, [data.header[c] for c in cols], typed)


def _scan_plain(path: Path, delimiter: str) -> tuple[CsvHeader, int, int]:
    """The header, the number of lines up to it, and the number of data rows, from one pass
    over the bytes that checks each data line has the header's field count. Raises _NotPlain
    for what only the csv module reads right: quotes or a lone carriage return in a data line,
    a line of blanks, a multi-character delimiter, a row of another length, no data rows."""
    if len(delimiter) != 1:
        raise _NotPlain()
    sep = delimiter.encode("utf-8")
    with open(path, "rb") as f:
        header, skip = None, 0
        for raw in f:
            skip += 1
            text = raw.decode("utf-8", errors="replace").removeprefix("\ufeff" if skip == 1 else "")
            if text.rstrip("\r\n"):
                if text.count('"') % 2 or "\r" in text.rstrip("\r\n"):
                    raise _NotPlain()   # a header that spans lines
                header = next(csv.reader([text], delimiter=delimiter))
                break
        if header is None:
            raise _NotPlain()
        data = CsvHeader(path, _checked_header(path, header, "path"))
        rows, separators = 0, len(header) - 1
        for raw in f:
            line = raw.rstrip(b"\n").removesuffix(b"\r")
            if not line:
                continue
            if b'"' in line or b"\r" in line or not line.strip() or line.count(sep) != separators:
                raise _NotPlain()
            rows += 1
    if not rows:
        raise _NotPlain()
    return data, skip, rows


# ---- image and text folders ----------------------------------------------------------------

@dataclass(frozen=True)
class Labelled:
    """Files with class labels: ``files[i]`` has class ``labels[i]`` (or a float target)."""

    files: list[Path]
    labels: list
    class_names: list[str] | None
    kind: str = "index"

    @property
    def classes(self) -> int | None:
        if self.kind == "float":
            return None
        return len(self.class_names) if self.class_names else max(self.labels) + 1


def _visible(name: str) -> bool:
    return not name.startswith(".")


def subfolders(path: Path) -> list[str]:
    """The sorted names of the non-hidden subfolders of ``path``."""
    return sorted(e.name for e in os.scandir(path) if e.is_dir() and _visible(e.name))


def files_under(folder: Path, extensions: frozenset[str] | None, kind: str, arg: str) -> list[Path]:
    """Non-hidden files below ``folder`` (recursively, each folder once), in sorted order.

    Every file found must be one specc would read (:func:`require_data_file`): a FIFO or a
    device among them is an error, not a hang at load time.
    """
    out: list[Path] = []
    seen: set[tuple[int, int]] = set()
    for root, dirs, names in os.walk(folder, followlinks=True):
        st = os.stat(root)
        if (st.st_dev, st.st_ino) in seen:  # a symlink back up the tree
            dirs[:] = []
            continue
        seen.add((st.st_dev, st.st_ino))
        dirs[:] = sorted(d for d in dirs if _visible(d))
        for name in sorted(names):
            if _visible(name) and (extensions is None or Path(name).suffix.lower() in extensions):
                require_data_file(Path(root) / name, kind, arg)
                out.append(Path(root) / name)
    return out


def scan_class_folders(path: Path, arg: str, categories: Sequence[str] | None,
                       extensions: frozenset[str] | None, what: str) -> Labelled:
    """One subfolder per class: classes in sorted order (or ``categories`` order).

    Raises SourceError for a missing folder, no subfolders, an unknown category (with a
    did-you-mean) or a class folder holding no ``what`` files.
    """
    require_dir(path, arg)
    found = subfolders(path)
    if not found:
        raise SourceError(f"{path} has no class subfolders: put each class's {what}s in a "
                          f"folder named after the class", arg=arg)
    if categories is None:
        names = found
    else:
        names = list(categories)
        for name in names:
            if name not in found:
                raise SourceError(f"{path} has no category folder '{name}'", arg="categories",
                                  hint=did_you_mean(name, found)
                                  or f"the folders are {', '.join(found)}")
        if len(set(names)) != len(names):
            raise SourceError("categories lists a folder twice", arg="categories")
    files: list[Path] = []
    labels: list[int] = []
    for k, name in enumerate(names):
        found_files = files_under(path / name, extensions, what, arg)
        if not found_files:
            raise SourceError(f"class folder {path / name} has no {what} files", arg=arg)
        files += found_files
        labels += [k] * len(found_files)
    return Labelled(files, labels, names)


def scan_image_folder(path: Path) -> Labelled:
    return scan_class_folders(path, "path", None, IMAGE_EXTENSIONS, "image")


def scan_text_folder(path: Path, categories: Sequence[str] | None) -> Labelled:
    return scan_class_folders(path, "path", categories, None, "text")


def scan_image_csv(csv_path: Path, images: Path, column: str, target: str) -> Labelled:
    """Image files and labels listed in a CSV; every listed file must exist."""
    data = read_csv(csv_path, "csv")
    c = data.column(column, "column")
    t = data.column(target, "target")
    require_dir(images, "images")
    files = []
    for i, row in enumerate(data.rows):
        f = images / row[c]
        try:
            check_file(f, "image")
        except FileProblem as exc:
            raise SourceError(f"{data.where(i)}: {'image ' if exc.missing else ''}{exc.message}", arg="csv") from None
        files.append(f)
    typed = type_target([row[t] for row in data.rows], data.where, target, "target")
    return Labelled(files, typed.values, typed.class_names, typed.kind)


def read_text(path: Path) -> str:
    """A document as text: UTF-8, undecodable bytes replaced rather than fatal."""
    return read_data(path, "text", "path").decode("utf-8", errors="replace")
