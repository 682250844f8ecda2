"""The shape of a scenario and of a scenario written for rows by name."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from tests.adversary.catalogue_rows import Row
from tests.adversary.harness import Verdict
from tests.adversary.resources import Resources

Scenario = Callable[[Resources], Verdict]


@dataclass(frozen=True)
class Special:
    """A scenario for the rows whose name matches `pattern` (the match is passed along)."""

    pattern: str
    make: Callable[[Row, re.Match[str]], Scenario]
    reconstructed: str = ""
    alone: bool = False
