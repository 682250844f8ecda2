"""`agentload ca`: where the capture proxy's CA certificate is and how to trust it."""

from __future__ import annotations

from pathlib import Path

import click

from agentload.capture.config import DEFAULT_CONFDIR


@click.command("ca")
@click.option(
    "--confdir",
    type=click.Path(file_okay=False, path_type=Path),
    default=str(DEFAULT_CONFDIR),
    show_default=True,
    help="Directory of the CA (as given to `agentload capture --confdir`); made if absent.",
)
@click.option("--path", "path_only", is_flag=True, help="Print only the certificate's path.")
def command(confdir: Path, path_only: bool) -> None:
    """Print the capture proxy's CA certificate path (making the CA if absent) and how to
    make Claude Code, Codex and the Python SDKs trust it for `capture --mode regular`."""
    from agentload.capture.ca import ensure_ca, trust_instructions  # imports mitmproxy

    cert = ensure_ca(confdir)
    click.echo(str(cert) if path_only else trust_instructions(cert))
