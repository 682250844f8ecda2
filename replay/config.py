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
from agentload.providers.api import Api, is_public, shown_headers
from agentload.replay.keys import ApiKeys, Redactor
from agentload.replay.targets import TargetKind
from agentload.traceformat import limits


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
    RAW = "raw"  # replay.rawhttp: minimal HTTP/1.1 on asyncio protocols (TLS for https)


class ArrivalMode(enum.StrEnum):
    RECORDED = "recorded"  # the source's arrival offsets / speed
    RATE = "rate"  # constant or Poisson session rate
    CLOSED = "closed"  # --concurrency N closed loop


MAX_SALT_CHARS = 256


# Above 5% failed requests a run describes the failures more than the engine (replay.outcome).
DEFAULT_MAX_ERROR_RATE = 0.05


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
    # --header and --public-header values: sent as given, never shown (repr, options())
    # unless named in public_headers (replay.keys)
    headers: tuple[tuple[str, str], ...] = dataclasses.field(default=(), repr=False)
    public_headers: tuple[str, ...] = ()
    # --api-key and the environment; options() shows where each key came from, not the key
    api_keys: ApiKeys = dataclasses.field(default_factory=ApiKeys)
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
    # Largest share of failed requests (cancelled aside) a run may have and still exit 0.
    max_error_rate: float = DEFAULT_MAX_ERROR_RATE
    # What answers at --target (replay.targets): decides the length fields and token ids.
    target_kind: TargetKind = TargetKind.AUTO
    # Probe the target before the clock starts (replay.preflight); False: --no-preflight.
    preflight: bool = True
    # Salt of the synthetic token blocks (None: a fresh run id), so runs share no cache.
    cache_salt: str | None = None
    # POST the target's prefix-cache reset before the run (--reset-cache).
    reset_cache: bool = False
    # Without /tokenize: calibrate text prompts with this local Hugging Face tokenizer
    # (a directory holding tokenizer.json, or the file itself; replay.calibrate).
    tokenizer: Path | None = None
    # Served lengths off the asked-for ones (analysis.lengths) fail the run: exit 1.
    strict_lengths: bool = False

    def __post_init__(self) -> None:
        _check_url(self.target)
        if not self.model:
            raise ConfigError("--model: must not be empty")
        self._check_bounds()
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
        for key, value in self.headers:
            _check_header("--header", key, value)
        if self.session_header is not None:
            _check_header("--session-header", self.session_header, "")
        if self.cache_salt is not None and not (
            0 < len(self.cache_salt) <= MAX_SALT_CHARS and self.cache_salt.isprintable()
        ):
            raise ConfigError(
                f"--cache-salt: expected 1 to {MAX_SALT_CHARS} printable characters, "
                f"got {self.cache_salt!r}"
            )

    def _check_bounds(self) -> None:
        """Every number finite and within `traceformat.limits` (docs/formats.md, Limits)."""
        L = limits
        L.check_number("--speed", self.speed, L.MIN_SPEED, L.MAX_SPEED)
        L.check_number("--timeout", self.timeout, 0, L.MAX_SECONDS, open_lo=True)
        L.check_number("--think-scale", self.think_scale, 0, L.MAX_SCALE)
        L.check_number("--warmup", self.warmup, 0, L.MAX_SECONDS)
        L.check_number("--max-error-rate", self.max_error_rate, 0, 1)
        if self.max_think is not None:
            L.check_number("--max-think", self.max_think, 0, L.MAX_SECONDS)
        if self.session_rate is not None:
            L.check_number("--session-rate", self.session_rate, L.MIN_RATE, L.MAX_RATE)
        if self.duration is not None:
            L.check_number("--duration", self.duration, 0, L.MAX_SECONDS, open_lo=True)
        for name, count, high in (
            ("--concurrency", self.concurrency, L.MAX_CONCURRENCY),
            ("--max-sessions", self.max_sessions, L.MAX_SESSIONS),
            ("--gpus", self.gpus, L.MAX_GPUS),
            ("--workers", self.workers, L.MAX_WORKERS),
        ):
            if count is not None:
                L.check_count(name, count, 1, high)

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

    def target_headers(self, api: Api | None = None) -> dict[str, str]:
        """Headers for the calls besides the run's requests (/tokenize, /metrics, /v1/models):
        every --header and the key as `api` (default: the run's --api) expects it."""
        return {**dict(self.headers), **self.api_keys.headers(api or self.api.api)}

    def redactor(self) -> Redactor:
        """Masks the run's keys and secret header values in text a server sent back."""
        hidden = [v for n, v in self.headers if not is_public(n, self.public_headers)]
        return Redactor(hidden + self.api_keys.secrets())

    def options(self) -> dict[str, object]:
        """JSON-ready options for META_INFO: header values masked unless public, keys
        named by where they came from (replay.keys)."""
        out: dict[str, object] = {}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.name == "headers":
                value = shown_headers(self.headers, self.public_headers)
            elif isinstance(value, ApiKeys):
                value = value.sources()
            elif isinstance(value, Path):
                value = str(value)
            elif isinstance(value, tuple):
                value = [list(v) if isinstance(v, tuple) else v for v in value]
            out[field.name] = value
        return out


# RFC 9110 token characters: what a header name may hold.
_TOKEN = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


def _check_header(option: str, name: str, value: str) -> None:
    """A header name must be a token; a value may not hold CR, LF or other control
    characters (tab aside): a CR/LF would inject a header line into the raw transport."""
    if not name or not set(name) <= _TOKEN:
        raise ConfigError(f"{option}: invalid header name {name!r} (letters, digits, -_.!#...)")
    if any((ord(c) < 32 and c != "\t") or ord(c) == 127 for c in value):
        raise ConfigError(f"{option}: header {name!r}: value holds CR, LF or a control character")


def _check_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"--target: expected an http(s) URL, got {url!r}")
    try:
        parts.port  # noqa: B018 - urllib checks the port range only when asked for it
    except ValueError:
        raise ConfigError(f"--target: port out of range 0-65535 in {url!r}") from None
