"""Reading examples from CSV, TSV and JSON-lines files (standard library)."""

import csv
import json
import os
import sys

from keras_electra_cli._runtime import CommandError

FORMATS = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".jsonl": "jsonl",
           ".json": "jsonl", ".ndjson": "jsonl", ".txt": "text"}


def file_format(path, allowed):
    """The format of `path` from its extension, one of `allowed`."""
    extension = os.path.splitext(path)[1].lower()
    kind = FORMATS.get(extension)
    if kind not in allowed:
        names = ", ".join(sorted(e for e, k in FORMATS.items()
                                 if k in allowed))
        raise CommandError(
            f"cannot tell the format of {path!r} from its extension "
            f"{extension or '(none)'!r}; name the file with one of {names}")
    return kind


def read_rows(path, allowed=("csv", "tsv", "jsonl")):
    """The file's examples as a list of dicts (one per row or line)."""
    kind = file_format(path, allowed)
    if not os.path.isfile(path):
        raise CommandError(f"no such file: {path!r}")
    with open(path, newline="", encoding="utf-8") as f:
        return parse_rows(f, kind, path)


def parse_rows(lines, kind, source):
    if kind in ("csv", "tsv"):
        delimiter = "," if kind == "csv" else "\t"
        return list(csv.DictReader(lines, delimiter=delimiter))
    if kind == "text":
        return [{"text": line.rstrip("\r\n")} for line in lines
                if line.strip()]
    rows = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise CommandError(
                f"{source}, line {number}: not valid JSON ({e.msg}); each "
                "line must be one JSON object") from None
        if not isinstance(row, dict):
            raise CommandError(
                f"{source}, line {number}: expected a JSON object such as "
                f'{{"text": "..."}}; found {type(row).__name__}')
        rows.append(row)
    return rows


def read_stdin():
    """Lines of stdin: JSON objects if the first line is one, else texts."""
    lines = sys.stdin.read().splitlines()
    first = next((line for line in lines if line.strip()), "")
    kind = "jsonl" if first.lstrip().startswith("{") else "text"
    return parse_rows(lines, kind, "stdin")


def column(rows, name, source, option):
    """The values of column `name`; a missing one names the option to use."""
    if not rows:
        raise CommandError(f"{source} has no examples")
    missing = [i for i, row in enumerate(rows) if name not in row]
    if missing:
        found = ", ".join(map(str, rows[missing[0]].keys())) or "none"
        raise CommandError(
            f"{source}: example {missing[0] + 1} has no column {name!r} "
            f"(columns: {found}); name the right one with {option}")
    return [row[name] for row in rows]


def texts(values, source, option):
    """Values that must be strings (empty allowed)."""
    for i, value in enumerate(values):
        if not isinstance(value, str):
            raise CommandError(
                f"{source}: example {i + 1}, column of {option} holds "
                f"{value!r}; expected text")
    return list(values)
