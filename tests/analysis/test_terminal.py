"""Tables printed to a pipe or CI log are laid out wide, not at rich's 80 columns."""

from __future__ import annotations

import subprocess
import sys

import pytest

from agentload.analysis.report import terminal

SCRIPT = """
from agentload.analysis.report import terminal
from rich.table import Table
t = Table()
for name in ("metric", "base", "new", "change", "noise (95%)", "verdict", "gate"):
    t.add_column(name)
t.add_row("tok_s_steady", "199.3", "187.2", "-6.1%", "[-95.05, +76.07]", "within noise",
          "tok_s_steady=-5%: pass")
terminal.console().print(t)
"""


def test_piped_console_is_wide(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
    assert terminal.console().width == terminal.PIPED_WIDTH  # pytest captures: not a TTY
    monkeypatch.setenv("COLUMNS", "100")
    assert terminal.console().width == 100  # $COLUMNS still decides


def test_piped_table_does_not_wrap() -> None:
    env = {"PATH": "/usr/bin:/bin"}  # no COLUMNS, stdout a pipe: as in a CI log
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, check=True
    ).stdout
    row = next(line for line in out.splitlines() if "tok_s_steady" in line)
    assert "tok_s_steady=-5%: pass" in row and len(out.splitlines()) == 5
