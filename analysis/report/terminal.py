"""The rich console every command prints tables on: the terminal's width on a terminal,
and ``PIPED_WIDTH`` columns when output goes to a pipe or a CI log (rich would assume 80
there and wrap every table of more than a few columns), unless $COLUMNS says otherwise."""

from __future__ import annotations

import os

from rich.console import Console

PIPED_WIDTH = 160


def console(stderr: bool = False, highlight: bool = True) -> Console:
    out = Console(stderr=stderr, highlight=highlight)
    if not out.is_terminal and not os.environ.get("COLUMNS"):
        out.width = PIPED_WIDTH
    return out
