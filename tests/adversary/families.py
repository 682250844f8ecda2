"""Every catalogue row mapped to the scenario that re-creates it.

A row is re-created by, in order: a scenario written for it by name (special.py,
capturerows.py: attempts that are not one command line), or its `$A ...` command run as
written (generic.py). `reconstructed` says why a scenario is not the note's attempt as
written (its full command was lost with adversary-attempts.json, or a part of it cannot be
had here); those rows are counted like the others.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tests.adversary import capture_misc, capturerows, special
from tests.adversary.catalogue_rows import Row, load
from tests.adversary.generic import cli_scenario
from tests.adversary.harness import Verdict, broke
from tests.adversary.resources import Resources
from tests.adversary.spec import Scenario, Special


@dataclass(frozen=True)
class Attempt:
    id: int
    name: str
    promise: str
    command: str
    run: Scenario
    reconstructed: str = ""  # why the scenario differs from the note's attempt, if it does
    alone: bool = False  # run after the others, one at a time (load, timing)


SPECIALS: tuple[Special, ...] = (
    *special.SPECIALS,
    *capturerows.SPECIALS,
    *capture_misc.SPECIALS,
)


def attempt_for(row: Row) -> Attempt:
    for spec in SPECIALS:
        if m := re.fullmatch(spec.pattern, row.name):
            run = spec.make(row, m)
            return Attempt(
                row.id, row.name, row.expected, row.command, run, spec.reconstructed, spec.alone
            )
    made = cli_scenario(row)
    if made is None:  # counted as broken: every row must be re-created (test_catalogue.py)
        return Attempt(row.id, row.name, row.expected, row.command, _missing, "no scenario")
    return Attempt(row.id, row.name, row.expected, row.command, made)


def _missing(res: Resources) -> Verdict:
    return broke("no scenario re-creates this row")


def attempts() -> list[Attempt]:
    return [attempt_for(row) for row in load()]
