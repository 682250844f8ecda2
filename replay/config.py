"""The frozen, validated configuration of one replay run.

The CLI parses options into a `ReplayConfig`; everything downstream reads only this object,
so a run can be reproduced from the `options` recorded in the result file's META_INFO.
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from agentload.base.errors import ConfigError
from agentload.providers.api import Api


class ApiChoice(enum.StrEnum):
    """Which endpoint synthetic prompts are sent to (a trace source keeps its own)."""

    COMPLETIONS = "completions"
    CHAT = "chat"
    MESSAGES = "messages"
    RESPONSES = "responses"

    @property
    def api(self) -> Api:
        return {
            ApiChoice.COMPLETIONS: Api.OPENAI_COMPLETIONS,
            ApiChoice.CHAT: Api.OPENAI_CHAT,
            ApiChoice.MESSAGES: Api.ANTHROPIC_MESSAGES,
            ApiChoice.RESPONSES: Api.OPENAI_RESPONSES,
        }[self]


class TransportChoice(enum.StrEnum):
    AIOHTTP = "aiohttp"
    HTTPX = "httpx"
    RAW = "raw"  # replay.rawhttp: minimal HTTP/1.1 on asyncio protocols (http:// only)


class ArrivalMode(enum.StrEnum):
    RECORDED = "recorded"  # the source's arrival offsets / speed
    RATE = "rate"  # constant or Poisson session rate
    CLOSED = "closed"  # --concurrency N closed loop


@dataclass(frozen=True)
class ReplayConfig:
    """All options of a replay run; `__post_init__` rejects invalid values and combinations."""

    source: Path
    target: str
    model: str
    out: Path
    api: ApiChoice = ApiChoice.COMPLETIONS
    speed: float = 1.0
    session_rate: float | None = None
    poisson: bool = False
    concurrency: int | None = None
    think_scale: float = 1.0
    max_think: float | None = None
    duration: float | None = None
    drain: bool = True
    max_sessions: int | None = None
    warmup: float = 0.0
    seed: int = 0
    workers: int = 1
    headers: tuple[tuple[str, str], ...] = ()
    session_header: str | None = "X-Session-ID"
    gpus: int | None = None
    scrape_metrics: bool = False
    timeout: float = 300.0  # seconds without any byte from the server (and to connect)
    transport: TransportChoice = TransportChoice.RAW
    quiet: bool = False
    # Label stored in META_INFO (e.g. the built-in profile name the CLI resolved).
    source_label: str | None = None
    # Calibrate chat/messages text against the target's /tokenize endpoint.
    calibrate: bool = True

    def __post_init__(self) -> None:
        _check_url(self.target)
        if not self.model:
            raise ConfigError("--model: must not be empty")
        _positive("--speed", self.speed)
        _positive("--timeout", self.timeout)
        if self.think_scale < 0:
            raise ConfigError(f"--think-scale: must be >= 0, got {self.think_scale}")
        for name, value in (("--max-think", self.max_think), ("--warmup", self.warmup)):
            if value is not None and value < 0:
                raise ConfigError(f"{name}: must be >= 0, got {value}")
        if self.session_rate is not None:
            _positive("--session-rate", self.session_rate)
        if self.duration is not None:
            _positive("--duration", self.duration)
        for name, count in (
            ("--concurrency", self.concurrency),
            ("--max-sessions", self.max_sessions),
            ("--gpus", self.gpus),
        ):
            if count is not None and count < 1:
                raise ConfigError(f"{name}: must be >= 1, got {count}")
        if self.workers < 1:
            raise ConfigError(f"--workers: must be >= 1, got {self.workers}")
        if self.session_rate is not None and self.concurrency is not None:
            raise ConfigError("--session-rate and --concurrency exclude each other")
        if self.poisson and self.session_rate is None:
            raise ConfigError("--poisson needs --session-rate")
        if self.concurrency is not None and self.concurrency < self.workers:
            raise ConfigError(
                f"--concurrency {self.concurrency} is below --workers {self.workers}: "
                "every worker needs at least one slot"
            )
        if not self.drain and self.duration is None:
            raise ConfigError("--no-drain needs --duration")
        for key, _ in self.headers:
            if not key or any(c in key for c in " :\r\n"):
                raise ConfigError(f"--header: invalid header name {key!r}")

    @property
    def arrival_mode(self) -> ArrivalMode:
        if self.concurrency is not None:
            return ArrivalMode.CLOSED
        if self.session_rate is not None:
            return ArrivalMode.RATE
        return ArrivalMode.RECORDED

    @property
    def cycles(self) -> bool:
        """Whether root sessions are reused once the source runs out (needs a bound)."""
        return self.arrival_mode is not ArrivalMode.RECORDED and (
            self.duration is not None or self.max_sessions is not None
        )

    def think_ns(self, think_s: float) -> int:
        """Scaled and capped think time in ns."""
        scaled = think_s * self.think_scale
        if self.max_think is not None:
            scaled = min(scaled, self.max_think)
        return int(max(scaled, 0.0) * 1e9)

    def options(self) -> dict[str, object]:
        """JSON-ready options for META_INFO."""
        out: dict[str, object] = {}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, Path):
                value = str(value)
            elif isinstance(value, tuple):
                value = [list(v) for v in value]
            out[field.name] = value
        return out


def _positive(name: str, value: float) -> None:
    if not value > 0:
        raise ConfigError(f"{name}: must be > 0, got {value}")


def _check_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"--target: expected an http(s) URL, got {url!r}")
