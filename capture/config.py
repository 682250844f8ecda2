"""Frozen, validated options of `agentload capture`."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from agentload.base.errors import ConfigError
from agentload.capture.workload import parse_rule

__all__ = ["CaptureConfig"]


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

    def __post_init__(self) -> None:
        if self.mode not in ("reverse", "regular"):
            raise ConfigError(f"--mode: expected reverse or regular, got {self.mode!r}")
        if self.mode == "reverse":
            if not self.upstream:
                raise ConfigError("--upstream: required in reverse mode")
            parts = urlsplit(self.upstream)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ConfigError(
                    f"--upstream: expected http(s)://HOST[:PORT], got {self.upstream!r}"
                )
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

    def mitm_options(self) -> dict[str, object]:
        mode = f"reverse:{self.upstream}" if self.mode == "reverse" else "regular"
        return {
            "mode": [mode],
            "listen_host": self.listen_host,
            "listen_port": self.listen_port,
            "agentload_out": str(self.out_dir),
            "agentload_workload": self.workload,
            "agentload_workload_rules": list(self.workload_rules),
            "agentload_session_headers": list(self.session_headers),
            "agentload_redact_content": self.redact_content,
            "agentload_rotate_mb": self.rotate_mb,
            "agentload_rotate_minutes": self.rotate_minutes,
            # connect upstream when a request arrives, not when the client connects, so a
            # failed connect happens inside a flow and is recorded (docs/capture.md)
            "connection_strategy": "lazy",
            "termlog_verbosity": "warn",  # per-connection lines would flood the terminal
        }
