"""Frozen, validated options of `agentload capture`."""

from __future__ import annotations

import ipaddress
import os
import ssl
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from agentload.base.errors import ConfigError
from agentload.capture.hosts import LLM_API_HOSTS, allow_pattern, parse_host_rule
from agentload.capture.workload import parse_rule

__all__ = ["DEFAULT_CONFDIR", "CaptureConfig", "Upstream", "parse_upstream"]

DEFAULT_CONFDIR = Path("~/.mitmproxy")  # mitmproxy's own default: mitmdump shares the CA
MAX_WORKERS = 64  # proxy processes; far past any core count this tool is run on


@dataclass(frozen=True)
class Upstream:
    origin: str  # scheme://host[:port], what mitmproxy's reverse mode takes
    prefix: str  # "" or "/path" (no trailing slash), put before every request path

    @property
    def url(self) -> str:
        return self.origin + self.prefix


def parse_upstream(text: str) -> Upstream:
    """An upstream base URL, `http(s)://HOST[:PORT][/PREFIX]`; ConfigError with one line.

    mitmproxy's reverse mode takes no path, so a prefix (OpenRouter's `/api`, an Azure or
    company gateway's route) is split off here and put back on each request by the addon."""
    expected = "expected http(s)://HOST[:PORT][/PATH]"
    parts = urlsplit(text.strip())
    if parts.username is not None or parts.password is not None:
        # the URL would be shown and stored with the trace: refused, whatever it holds
        raise ConfigError(
            "--upstream: credentials in the URL are refused (they would be printed and "
            "stored); let the agent send its key in a header (Authorization, x-api-key), "
            "which passes through the proxy and is never recorded"
        )
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"--upstream: {expected}, got {text!r}")
    if parts.query or parts.fragment or text.rstrip().endswith(("?", "#")):
        raise ConfigError(f"--upstream: {expected} without ?query or #fragment, got {text!r}")
    try:
        port = parts.port
    except ValueError:
        raise ConfigError(f"--upstream: the port must be 1 to 65535, got {text!r}") from None
    if port == 0:
        raise ConfigError(f"--upstream: the port must be 1 to 65535, got {text!r}")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    origin = f"{parts.scheme}://{host}" + (f":{port}" if port else "")
    return Upstream(origin, parts.path.rstrip("/"))


def check_ca_file(path: Path) -> None:
    """One line when `path` cannot serve as trusted CA certificates (PEM)."""
    try:
        ssl.create_default_context(cafile=str(path))
    except FileNotFoundError:
        raise ConfigError(f"--upstream-ca: {path}: no such file") from None
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(
            f"--upstream-ca: {path}: not readable as PEM CA certificates ({exc})"
        ) from None


def system_trust() -> tuple[str | None, str | None]:
    """The system's CA file and directory as Python's ssl sees them (honouring SSL_CERT_FILE
    and SSL_CERT_DIR); None where there is none. mitmproxy alone would use certifi's bundle."""
    paths = ssl.get_default_verify_paths()
    ca_dir = paths.capath if paths.capath and os.path.isdir(paths.capath) else None
    return paths.cafile, ca_dir


@dataclass(frozen=True)
class CaptureConfig:
    upstream: str | None  # required in reverse mode
    listen_host: str
    listen_port: int
    out_dir: Path
    mode: str = "reverse"  # reverse | regular
    workload: str = "default"
    workload_rules: tuple[str, ...] = ()
    session_headers: tuple[str, ...] = ()
    redact_content: bool = False
    rotate_mb: int = 256
    rotate_minutes: int = 60
    stop_grace_s: float = 10.0  # on SIGINT/SIGTERM, wait this long for calls in flight
    upstream_ca: Path | None = None  # extra trusted CAs (PEM) for upstream certificates
    upstream_insecure: bool = False  # skip upstream certificate verification
    record_hosts: tuple[str, ...] = LLM_API_HOSTS  # regular mode: the hosts recorded
    confdir: Path = DEFAULT_CONFDIR  # where the proxy's CA lives (mitmproxy's confdir)
    workers: int = 1  # proxy processes sharing the listen address (capture.workers)

    def __post_init__(self) -> None:
        if self.mode not in ("reverse", "regular"):
            raise ConfigError(f"--mode: expected reverse or regular, got {self.mode!r}")
        if self.mode == "reverse" and not self.upstream:
            raise ConfigError("--upstream: required in reverse mode")
        if self.upstream:
            parse_upstream(self.upstream)
        if self.upstream_ca is not None:
            if self.upstream_insecure:
                raise ConfigError("--upstream-ca and --upstream-insecure: give one of them")
            check_ca_file(self.upstream_ca)
        if not self.record_hosts:
            raise ConfigError("--record-host: at least one host")
        for host in self.record_hosts:
            try:
                parse_host_rule(host)
            except ValueError as exc:
                raise ConfigError(f"--record-host: {exc}") from None
        if not 0 <= self.listen_port <= 65535:
            raise ConfigError(f"--listen: port {self.listen_port} out of range")
        if not self.workload:
            raise ConfigError("--workload: must not be empty")
        for rule in self.workload_rules:
            try:
                parse_rule(rule)
            except ValueError as exc:
                raise ConfigError(f"--workload-rule: {exc}") from None
        if self.rotate_mb < 1 or self.rotate_minutes < 1:
            raise ConfigError("--rotate-mb/--rotate-minutes: must be at least 1")
        if not 0 <= self.stop_grace_s <= 3600:  # also refuses NaN
            raise ConfigError(f"--stop-grace: expected 0 to 3600 seconds, got {self.stop_grace_s}")
        if not 1 <= self.workers <= MAX_WORKERS:
            raise ConfigError(
                f"--workers: expected 1 to {MAX_WORKERS} processes, got {self.workers}"
            )
        if self.workers > 1 and not sys.platform.startswith("linux"):
            # elsewhere SO_REUSEPORT does not spread connections (one socket gets them all)
            raise ConfigError("--workers: more than one process needs Linux (SO_REUSEPORT)")
        if self.out_dir.exists() and not self.out_dir.is_dir():
            raise ConfigError(f"--out: {self.out_dir} exists and is not a directory")

    @staticmethod
    def parse_listen(text: str) -> tuple[str, int]:
        host, sep, port = text.rpartition(":")
        if not sep or not port.isdigit():
            raise ConfigError(f"--listen: expected HOST:PORT, got {text!r}")
        host = host.strip("[]") or "127.0.0.1"
        if host != "localhost":
            try:
                ipaddress.ip_address(host)
            except ValueError:
                raise ConfigError(f"--listen: {host!r} is not an IP address") from None
        return host, int(port)

    def mitm_options(self, worker: int | None = None) -> dict[str, object]:
        """mitmproxy's options for this capture; `worker`: the index of one of --workers'
        processes, which names its trace files."""
        upstream = parse_upstream(self.upstream) if self.upstream else None
        if self.mode == "reverse" and upstream is not None:
            routing: dict[str, object] = {
                "mode": [f"reverse:{upstream.origin}"],
                "agentload_path_prefix": upstream.prefix,
            }
        else:  # intercept (TLS) and record only the record hosts; tunnel the rest untouched
            rules = [parse_host_rule(h) for h in self.record_hosts]
            routing = {
                "mode": ["regular"],
                "allow_hosts": [allow_pattern(r) for r in rules],
                "agentload_record_hosts": list(self.record_hosts),
            }
        return (
            routing
            | self._tls_options()
            | {
                "listen_host": self.listen_host,
                "listen_port": self.listen_port,
                "agentload_out": str(self.out_dir),
                "agentload_workload": self.workload,
                "agentload_workload_rules": list(self.workload_rules),
                "agentload_session_headers": list(self.session_headers),
                "agentload_redact_content": self.redact_content,
                "agentload_rotate_mb": self.rotate_mb,
                "agentload_rotate_minutes": self.rotate_minutes,
                "agentload_worker": -1 if worker is None else worker,
                # connect upstream when a request arrives, not when the client connects, so a
                # failed connect happens inside a flow and is recorded (docs/capture.md)
                "connection_strategy": "lazy",
                "termlog_verbosity": "warn",  # per-connection lines would flood the terminal
            }
        )

    def _tls_options(self) -> dict[str, object]:
        """Upstream verification against the system store (plus --upstream-ca), and the CA
        the proxy signs intercepted connections with (in --confdir)."""
        opts: dict[str, object] = {"confdir": str(self.confdir)}
        if self.upstream_insecure:
            return opts | {"ssl_insecure": True}
        ca_file, ca_dir = system_trust()
        if self.upstream_ca is not None:
            ca_file = str(self.upstream_ca)
        if ca_file is not None:
            opts["ssl_verify_upstream_trusted_ca"] = ca_file
        if ca_dir is not None:
            opts["ssl_verify_upstream_trusted_confdir"] = ca_dir
        return opts
