"""The shape of a scenario and of a scenario written for rows by name."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from tests.adversary.catalogue_rows import Row
from tests.adversary.harness import Verdict
from tests.adversary.resources import Resources

Scenario = Callable[[Resources], Verdict]
Maker = Callable[[Row, re.Match[str]], Scenario]  # a scenario for the row its pattern matched


def fixed(scenario: Scenario) -> Maker:
    """The maker of rows whose scenario does not depend on the row or the match."""
    return lambda row, m: scenario


@dataclass(frozen=True)
class Special:
    """A scenario for the rows whose name matches `pattern` (the match is passed along)."""

    pattern: str
    make: Maker
    reconstructed: str = ""
    alone: bool = False
