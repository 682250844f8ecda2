"""`agentload capture`: record agent <-> LLM traffic through mitmproxy into trace files."""

from __future__ import annotations

from pathlib import Path

import click

from agentload.capture.config import DEFAULT_CONFDIR, CaptureConfig
from agentload.capture.hosts import LLM_API_HOSTS


@click.command("capture")
@click.option(
    "--upstream",
    metavar="URL",
    help="Engine, provider or gateway base URL, with its path if any (reverse mode).",
)
@click.option(
    "--upstream-ca",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="PEM file of CAs to trust for upstream certificates, besides the system's CA directory.",
)
@click.option(
    "--upstream-insecure",
    is_flag=True,
    help="Do not verify upstream certificates (a warning is printed).",
)
@click.option(
    "--record-host",
    "record_hosts",
    multiple=True,
    metavar="HOST[:PORT]|*.DOMAIN",
    help="Regular mode: record calls to this host (repeatable; default: known LLM API "
    "hosts); other traffic is tunnelled untouched.",
)
@click.option(
    "--confdir",
    type=click.Path(file_okay=False, path_type=Path),
    default=str(DEFAULT_CONFDIR),
    show_default=True,
    help="Directory of the proxy's CA certificate (mitmproxy's confdir; see `agentload ca`).",
)
@click.option(
    "--listen",
    default="127.0.0.1:8080",
    show_default=True,
    metavar="HOST:PORT",
    help="Address to listen on; port 0 picks a free one (printed on start).",
)
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory for trace files (Arrow IPC streams, rotated).",
)
@click.option("--workload", default="default", show_default=True, help="Default workload label.")
@click.option(
    "--workload-rule",
    "workload_rules",
    multiple=True,
    metavar="path:GLOB=LABEL|model:GLOB=LABEL",
    help="Label calls by path or model glob (repeatable; X-Agentload-Workload header wins).",
)
@click.option(
    "--session-header",
    "session_headers",
    multiple=True,
    metavar="H",
    help="Request header naming a session, tried before the built-in ones (repeatable).",
)
@click.option(
    "--mode",
    type=click.Choice(["reverse", "regular"]),
    default="reverse",
    show_default=True,
    help="reverse: agents use this address as base URL; regular: agents use it as HTTP proxy.",
)
@click.option("--redact-content", is_flag=True, help="Store only content hashes and sizes.")
@click.option(
    "--rotate-mb",
    default=256,
    show_default=True,
    help="Start a new file once the rows written to it reach this many MB (uncompressed).",
)
@click.option(
    "--rotate-minutes", default=60, show_default=True, help="Rotate files after this long."
)
@click.option(
    "--stop-grace",
    "stop_grace_s",
    default=10.0,
    show_default=True,
    metavar="SECONDS",
    help="On SIGINT/SIGTERM, let calls in flight finish for this long (the rest: partial rows).",
)
@click.option(
    "--workers",
    default=1,
    show_default=True,
    metavar="PROCESSES",
    help="Number of proxy processes sharing the --listen address (SO_REUSEPORT, Linux; 1 to "
    "64); each writes its own trace files, joined by `agentload trace stitch`. About one "
    "per core.",
)
def command(
    upstream: str | None,
    upstream_ca: Path | None,
    upstream_insecure: bool,
    record_hosts: tuple[str, ...],
    confdir: Path,
    listen: str,
    out_dir: Path,
    workload: str,
    workload_rules: tuple[str, ...],
    session_headers: tuple[str, ...],
    mode: str,
    redact_content: bool,
    rotate_mb: int,
    rotate_minutes: int,
    stop_grace_s: float,
    workers: int,
) -> None:
    """Run a recording proxy: LLM calls pass through unchanged and are written to --out."""
    host, port = CaptureConfig.parse_listen(listen)
    config = CaptureConfig(
        upstream=upstream,
        listen_host=host,
        listen_port=port,
        out_dir=out_dir,
        mode=mode,
        workload=workload,
        workload_rules=workload_rules,
        session_headers=session_headers,
        redact_content=redact_content,
        rotate_mb=rotate_mb,
        rotate_minutes=rotate_minutes,
        stop_grace_s=stop_grace_s,
        upstream_ca=upstream_ca,
        upstream_insecure=upstream_insecure,
        record_hosts=record_hosts or LLM_API_HOSTS,
        confdir=confdir.expanduser(),
        workers=workers,
    )
    if upstream_insecure:
        click.echo(
            "agentload capture: warning: --upstream-insecure: upstream certificates are not "
            "verified; anyone on the path can read and change the traffic",
            err=True,
        )
    from agentload.capture.serve import run_capture  # mitmproxy is imported only when running

    raise SystemExit(run_capture(config))
