"""The catalogue's rows (catalogue.tsv): what each attempt was, as the note lists it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

TSV = Path(__file__).with_name("catalogue.tsv")


@dataclass(frozen=True)
class Row:
    id: int
    name: str
    then: str  # the verdict at commit 695fba6: held | broke
    expected: str  # the promise, as the note words it
    command: str  # as abbreviated in the note


def load(path: Path = TSV) -> list[Row]:
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("#") or not line.strip():
            continue
        num, name, then, expected, command = line.split("\t")
        rows.append(Row(int(num), name, then, expected, command))
    return rows
