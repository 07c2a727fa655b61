"""Reading a user's CSV table: header and label column detection, numeric parsing, a path:line for a bad row;
and its distinct labels alone (`label_values`), which `nnrun check` reads instead of the table."""

from __future__ import annotations

import csv
import math
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nnrun.errors import DataError, did_you_mean


@dataclass
class Table:
    """A CSV file read: x (N, D) float64, labels (N,) int64 or str, the column names (or numbers) and
    whether the file has a header row."""

    x: np.ndarray
    labels: np.ndarray
    columns: list[str]
    header: bool


@dataclass
class Layout:
    """How a CSV file's rows read: whether the first is a header, the column names (or numbers), the label
    column's index and the physical lines up to and including the header row."""

    header: bool
    names: list[str]
    column: int
    skip: int


def read_csv(path: Path, label: str | int | None, header: bool | None, delimiter: str) -> Table:
    """Parse a CSV file of numeric features and one label column.

    numpy's loadtxt parses the file, several times faster than the csv module and float() per field; when
    it fails, a csv-module pass finds the first bad row for a path:line message (figures in benchmarks/README.md).
    """
    layout = read_layout(path, label, header, delimiter)
    header, names, column, skip = layout.header, layout.names, layout.column, layout.skip
    ncols = len(names)
    keep = [k for k in range(ncols) if k != column]
    options = dict(delimiter=delimiter, skiprows=skip, comments=None, quotechar='"', encoding="utf-8-sig", ndmin=2)
    try:
        full, labels = load_table(path, column, options)
        if full.size == 0:
            raise no_rows(path, header)
        if full.shape[1] != ncols:  # every row, consistently, has another count than the first
            raise ValueError(f"{full.shape[1]} columns, expected {ncols}")
        failure = None
    except ValueError as error:
        failure, full = str(error), None
    if full is None or not all_finite(full, keep):
        find_bad_row(path, delimiter, skip, ncols, keep, names)
        raise DataError(f"cannot parse {path}: {failure}")
    if labels is None:
        labels = full[:, column].copy()
        if not np.array_equal(labels, np.round(labels)):  # 0.5 is a class name, not a class number
            labels = np.loadtxt(path, dtype=str, usecols=[column], **options).reshape(-1)
    labels = parse_labels(np.char.strip(labels)) if labels.dtype.kind == "U" else labels.astype(np.int64)
    return Table(drop_column(full, column), labels, names, header)


def read_layout(path: Path, label: str | int | None, header: bool | None, delimiter: str) -> Layout:
    """The header, column names and label column, from the first two rows (header: None detects it)."""
    head = first_rows(path, delimiter, 2)
    if not head:
        raise DataError(f"{path} is empty")
    if header is None:
        header = looks_like_header(head[0][1], head[1][1] if len(head) > 1 else None)
    ncols = len(head[0][1])
    names = [name.strip() for name in head[0][1]] if header else [str(k) for k in range(ncols)]
    column = label_column(label, names, header, path)
    if ncols == 1:
        raise DataError(f"{path} has only a label column and no features")
    return Layout(header, names, column, head[0][0] if header else 0)


def label_values(path: Path, layout: Layout, delimiter: str) -> np.ndarray:
    """The distinct labels of a CSV file, as read_csv reads them (ints, or else names), without parsing a feature.

    One pass of the csv module over the file, keeping a set of label texts: a row with another number of
    fields than the first is read_csv's error; a feature that is not a number is found by read_csv alone.
    """
    ncols, texts = len(layout.names), set()
    for line, row in data_rows(path, delimiter, layout.skip):
        if len(row) != ncols:
            raise wrong_fields(path, line, len(row), ncols, delimiter)
        texts.add(row[layout.column].strip())
    if not texts:
        raise no_rows(path, layout.header)
    return parse_labels(np.array(sorted(texts), dtype=str))


def no_rows(path: Path, header: bool) -> DataError:
    return DataError(f"{path} has no data rows" + (" after the header" if header else ""))


def wrong_fields(path: Path, line: int, count: int, ncols: int, delimiter: str) -> DataError:
    return DataError(
        f"{path}:{line}: {count} fields, expected {ncols} like the first row",
        hint=f"every row needs the same columns, separated by {delimiter!r}",
    )


def load_table(path: Path, column: int, options: dict[str, Any]) -> tuple[np.ndarray, np.ndarray | None]:
    """Every column as float64, and the label column as text when it does not parse as numbers (else None)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "input contained no data": the caller reports it as a DataError
        try:
            return np.loadtxt(path, dtype=np.float64, **options), None
        except ValueError:
            # names as labels: a converter stands in for the label column so that the features still parse
            full = np.loadtxt(path, dtype=np.float64, converters={column: lambda _: 0.0}, **options)
            return full, np.loadtxt(path, dtype=str, usecols=[column], **options).reshape(-1)


def all_finite(full: np.ndarray, keep: list[int]) -> bool:
    # in chunks of rows: np.isfinite(full[:, keep]) would copy all the features once more; the label
    # column may hold anything (a converter's 0.0, or numbers that are checked as labels)
    return all(np.isfinite(full[start : start + 4096]).all(axis=0)[keep].all() for start in range(0, len(full), 4096))


def drop_column(full: np.ndarray, column: int) -> np.ndarray:
    """full (N, D) without one column, as a contiguous (N, D - 1) array in full's own memory.

    Rows move left one at a time (row i by i or i + 1 places), never over a value not yet moved. The
    usual `np.ascontiguousarray(full[:, keep])` needs a second copy of the features, twice the peak memory
    (figures in benchmarks/README.md).
    """
    n, d = full.shape
    flat = full.reshape(-1)
    for i in range(n):
        src, dst = i * d, i * (d - 1)
        flat[dst : dst + column] = flat[src : src + column]
        flat[dst + column : dst + d - 1] = flat[src + column + 1 : src + d]
    return flat[: n * (d - 1)].reshape(n, d - 1)


def first_rows(path: Path, delimiter: str, n: int) -> list[tuple[int, list[str]]]:
    """Up to n (line number, fields) rows from the top of the file, skipping blank lines."""
    found: list[tuple[int, list[str]]] = []
    try:
        with open(path, newline="", encoding="utf-8-sig") as file:
            reader = csv.reader(file, delimiter=delimiter)
            for row in reader:
                if row:
                    found.append((reader.line_num, row))
                if len(found) == n:
                    break
    except UnicodeDecodeError as error:
        raise DataError(f"{path} is not UTF-8 text ({error.reason} at byte {error.start})") from None
    except csv.Error as error:
        raise DataError(f"{path}: not a CSV file ({error})") from None
    return found


def data_rows(path: Path, delimiter: str, skip: int) -> Iterator[tuple[int, list[str]]]:
    """(line number, fields) of each row after the first `skip` lines, blank lines left out."""
    reader = None
    try:
        with open(path, newline="", encoding="utf-8-sig") as file:
            reader = csv.reader(file, delimiter=delimiter)
            for row in reader:
                line = reader.line_num
                if line <= skip or not row or (len(row) == 1 and not row[0].strip()):
                    continue
                yield line, row
    except UnicodeDecodeError as error:
        raise DataError(f"{path} is not UTF-8 text ({error.reason} at byte {error.start})") from None
    except csv.Error as error:
        raise DataError(f"{path}:{reader.line_num if reader else 0}: {error}") from None


def find_bad_row(path: Path, delimiter: str, skip: int, ncols: int, keep: list[int], names: list[str]) -> None:
    """Raise a DataError at the first row with the wrong number of fields or a feature that is not a finite number."""
    for line, row in data_rows(path, delimiter, skip):
        if len(row) != ncols:
            raise wrong_fields(path, line, len(row), ncols, delimiter)
        for k in keep:
            try:
                value = float(row[k])
            except ValueError:
                value = None
            if value is None or not math.isfinite(value):
                raise DataError(
                    f"{path}:{line}: column {names[k]!r} holds {row[k]!r}, expected a finite number",
                    hint="features must be numbers; only the label column may hold names",
                )


def parse_labels(text: np.ndarray) -> np.ndarray:
    """Integer labels when every label is a whole number ("3", "3.0"), else the strings themselves."""
    try:
        return text.astype(np.int64)
    except ValueError:
        pass
    try:
        values = text.astype(np.float64)
    except ValueError:
        return text
    if np.isfinite(values).all() and np.array_equal(values, np.round(values)):
        return values.astype(np.int64)
    return text


def looks_like_header(row: list[str], second: list[str] | None) -> bool:
    """True when the first row has a non-numeric field where the second row has a number (csv.Sniffer's
    idea, which keeps string labels in the first data row from passing for a header); with one row, when
    none of its fields is a number."""
    if second is None or len(second) != len(row):
        return not any(is_number(field) for field in row)
    return any(not is_number(a) and is_number(b) for a, b in zip(row, second))


def is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def label_column(label: str | int | None, names: list[str], header: bool, path: Path) -> int:
    """The 0-based index of the label column."""
    ncols = len(names)
    if label is None:
        return names.index("label") if header and "label" in names else 0
    if isinstance(label, int):
        if not -ncols <= label < ncols:
            raise DataError(f"data.label: there is no column {label}; {path} has {ncols} columns", where="data")
        return label % ncols
    if not header:
        raise DataError(
            f"data.label: '{label}' is a column name, but {path} has no header row",
            where="data",
            hint="give the label column as a 0-based index, or set header: true",
        )
    if label not in names:
        raise DataError(
            f"data.label: {path} has no column '{label}'{did_you_mean(label, names)}; its columns are {', '.join(names)}",
            where="data",
        )
    return names.index(label)
