"""Reading and writing the text files `moodbot analyze` and `moodbot eval` work on."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


class InputFileError(ValueError):
    """The file cannot be read as texts; the message says where and why."""


@dataclass
class Row:
    """One record of the input, kept whole so the output carries every original field."""

    fields: dict[str, object]
    text: str


def read_rows(path: Path, column: str = "text") -> list[Row]:
    suffix = path.suffix.lower()
    if suffix in {".jsonl", ".ndjson"}:
        return list(_read_jsonl(path, column))
    if suffix in {".csv", ".tsv"}:
        return list(_read_csv(path, column, "\t" if suffix == ".tsv" else ","))
    raise InputFileError(f"{path}: unsupported file type {suffix!r} (use .csv, .tsv or .jsonl)")


def _read_jsonl(path: Path, column: str) -> Iterator[Row]:
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputFileError(f"{path}:{number}: not valid JSON ({exc.msg})") from exc
            if not isinstance(record, dict) or not isinstance(record.get(column), str):
                raise InputFileError(
                    f"{path}:{number}: expected an object with a string {column!r}"
                )
            yield Row(record, record[column])


def _read_csv(path: Path, column: str, delimiter: str) -> Iterator[Row]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle, delimiter=delimiter)
        if reader.fieldnames is None or column not in reader.fieldnames:
            raise InputFileError(
                f"{path}: no {column!r} column (columns: {', '.join(reader.fieldnames or [])}); "
                "choose one with --column"
            )
        for record in reader:
            yield Row(dict(record), record[column] or "")


def write_rows(path: Path, rows: list[dict[str, object]]) -> None:
    if path.suffix.lower() in {".jsonl", ".ndjson"}:
        with path.open("w", encoding="utf-8") as handle:
            for row in rows:
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        return
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    fieldnames = list(dict.fromkeys(key for row in rows for key in row))
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fieldnames, delimiter=delimiter)
        writer.writeheader()
        writer.writerows(rows)
