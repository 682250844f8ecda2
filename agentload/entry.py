"""The console script `agentload`: holds signals while a run starts, then runs the CLI.

Imports nothing heavy before `held_signals.hold()`, so a signal in the first second of
`agentload replay` is held (see `agentload.base.held_signals`) rather than raised in the
middle of an import.
"""

from __future__ import annotations

import sys

from agentload.base import held_signals

# Commands whose run takes a held signal over as its stop request (a partial result file).
HOLDING = frozenset({"replay", "sweep"})


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] in HOLDING:
        held_signals.hold()
    from agentload.cli import main as cli_main

    cli_main()
