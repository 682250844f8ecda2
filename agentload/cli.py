"""`agentload` entry point: a click group whose commands are imported on first use.

Each command lives in `agentload/commands/<name>.py` as a click object called `command`, so
starting the CLI (and `--help`) does not import mitmproxy, polars or the engine.
"""

from __future__ import annotations

import importlib
import sys

import click

from agentload import __version__
from agentload.base.errors import EXIT_INTERRUPTED, AgentloadError

# command name -> module under agentload.commands
COMMANDS: dict[str, str] = {
    "inspect": "inspect",
    "sim": "sim",
    "replay": "replay",
    "profile": "profile",
    "report": "report",
    "compare": "compare",
    "sweep": "sweep",
    "demo": "demo",
    "capture": "capture",
    "ca": "ca",
    "trace": "trace",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module = COMMANDS.get(cmd_name)
        if module is None:
            return None
        command = importlib.import_module(f"agentload.commands.{module}").command
        assert isinstance(command, click.Command)
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="agentload")
def cli() -> None:
    """Measure LLM inference engines on real agentic traffic."""


def main() -> None:
    """Run the CLI; any AgentloadError becomes one line on stderr and its `exit_code`
    (docs/exit-codes.md)."""
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except AgentloadError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(EXIT_INTERRUPTED)
