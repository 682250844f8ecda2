"""Options and SOURCE resolution shared by `agentload replay` and `agentload sweep`.

Imports only click at module level so that `--help` stays fast; the profile and replay
packages are imported when a command runs.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from agentload.replay.config import ReplayConfig

F = TypeVar("F", bound=Callable[..., Any])

SLO_HELP = (
    "Goodput SLOs, e.g. 'ttft=2s,tpot=50ms,session=120s' (units ms, s, m; bare = s). A "
    "session counts when it completed and meets every SLO given."
)


class FiniteFloat(click.ParamType[float, Any]):
    """A float option that refuses NaN and infinity at parse time, naming the option in one
    line (`ConfigError`, printed by the CLI as `error: ...`, exit 2) rather than click's usage
    block. Ranges are checked by the command's config against `traceformat.limits`."""

    name = "number"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        from agentload.base.errors import ConfigError

        option = param.opts[0] if param is not None and param.opts else "value"
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{option}: expected a number, got {value!r}") from None
        if not math.isfinite(number):
            raise ConfigError(f"{option}: expected a finite number, got {value!r}")
        return number


FINITE = FiniteFloat()


def slo_option(help_text: str = SLO_HELP) -> Callable[[F], F]:
    """`--slo`, parsed later by `analysis.goodput.parse_slo`."""
    return click.option("--slo", default=None, help=help_text)


def force_option() -> Callable[[F], F]:
    """`--force`: replace output files that exist (refused by default, see check_output)."""
    return click.option("--force", is_flag=True, help="Replace output files that already exist.")


def replay_options(per: str = "") -> Callable[[F], F]:
    """SOURCE plus the options that go straight into `ReplayConfig` under the same name.

    `per` ends the help of the options that apply to each run (" per point" for a sweep).
    """
    decorators = [
        click.argument("source"),
        click.option(
            "--target", required=True, help="Base URL of the engine, e.g. http://127.0.0.1:8000."
        ),
        click.option(
            "--model",
            help="Model name to put in every request. Default: the one model the target "
            "serves (GET /v1/models); a target serving several asks for this option.",
        ),
        click.option(
            "--api",
            type=click.Choice(["completions", "chat", "messages", "responses"]),
            default="completions",
            show_default=True,
            help="Endpoint for synthetic prompts (a trace keeps its recorded API).",
        ),
        click.option(
            "--think-scale",
            type=FINITE,
            default=1.0,
            show_default=True,
            help="Multiply recorded think (tool) times by this factor.",
        ),
        click.option(
            "--max-think", type=FINITE, default=None, help="Cap each think time (seconds)."
        ),
        click.option(
            "--duration",
            type=FINITE,
            default=None,
            help=f"Stop admitting sessions after this many seconds{per} (sessions are cycled).",
        ),
        click.option(
            "--max-sessions",
            type=int,
            default=None,
            help=f"Admit at most this many root sessions{per}.",
        ),
        click.option(
            "--warmup",
            type=FINITE,
            default=0.0,
            show_default=True,
            help="Flag requests sent in the first S seconds as warmup (excluded from metrics).",
        ),
        click.option(
            "--seed", type=int, default=0, show_default=True, help="Seed for Poisson arrivals."
        ),
        click.option(
            "--workers",
            type=int,
            default=1,
            show_default=True,
            help="Client processes (sessions sharded by a stable hash).",
        ),
        click.option(
            "--gpus", type=int, default=None, help="GPUs behind the target (for per-GPU figures)."
        ),
        *request_options(),
        click.option(
            "--scrape-metrics", is_flag=True, help="Poll the target's /metrics every second."
        ),
        click.option(
            "--max-error-rate",
            type=FINITE,
            default=0.05,  # replay.config.DEFAULT_MAX_ERROR_RATE (not imported: fast --help)
            show_default=True,
            metavar="FRACTION",
            help=f"Exit 1 when more than this share (0-1) of the requests failed{per}; a "
            "run where none succeeded exits 3.",
        ),
        click.option(
            "--target-kind",
            type=click.Choice(["auto", "vllm", "sglang", "llamacpp", "openai", "anthropic", "sim"]),
            default="auto",
            show_default=True,
            help="What serves --target: decides the length fields and token-id prompts sent "
            "(docs/engines.md); auto: recognised by the preflight.",
        ),
        click.option(
            "--preflight/--no-preflight",
            default=True,
            show_default=True,
            help=f"Before the clock starts{per}, check the model is served and probe each API "
            "(16 output tokens); stop (exit 3) when the run cannot be faithful.",
        ),
        click.option(
            "--cache-salt",
            default=None,
            metavar="TEXT",
            help="Salt the synthetic prompts' token blocks with TEXT instead of a fresh run id "
            "(runs with the same salt share the prefix cache; sweep points add their label).",
        ),
        click.option(
            "--reset-cache",
            is_flag=True,
            help=f"Empty the target's prefix cache before the run{per} (POST "
            "/reset_prefix_cache on vLLM and the sim, /flush_cache on SGLang).",
        ),
        click.option(
            "--strict-lengths",
            is_flag=True,
            help="Exit 1 (after writing the result) when more than 1% of the requests were "
            "served a prompt or output length off the one asked for, or the drift passes 1% "
            "(outputs) or 3% (prompts).",
        ),
        click.option(
            "--tokenizer",
            type=click.Path(exists=True, path_type=Path),
            default=None,
            metavar="PATH",
            help="Local Hugging Face tokenizer (a directory with tokenizer.json, or the file) "
            "to size text prompts (--api chat/messages/responses) where the target has no "
            "/tokenize; needs agentload[tokenizer].",
        ),
    ]

    def apply(func: F) -> F:
        for decorator in reversed(decorators):  # so --help lists them in the order above
            func = decorator(func)
        return func

    return apply


def request_options() -> list[Callable[[F], F]]:
    """How requests reach the target: headers, key, timeout, transport, calibration."""
    return [
        click.option(
            "--header",
            "headers",
            multiple=True,
            metavar="'NAME: VALUE'",
            help="Extra request header (repeatable). Its value is secret: sent, never "
            "recorded or printed (use --public-header to record it).",
        ),
        click.option(
            "--public-header",
            "public_headers",
            multiple=True,
            metavar="'NAME: VALUE'",
            help="Extra request header recorded in clear in the result file (repeatable); "
            "credential headers (Authorization, x-api-key, cookie, ...) stay masked.",
        ),
        click.option(
            "--api-key",
            default=None,
            metavar="KEY",
            help="API key, sent as each API expects (Authorization: Bearer, or x-api-key for "
            "--api messages); never recorded or printed. Default: $AGENTLOAD_API_KEY, else "
            "$OPENAI_API_KEY / $ANTHROPIC_API_KEY (the environment keeps it out of ps).",
        ),
        click.option(
            "--session-header",
            default="X-Session-ID",
            show_default=True,
            help="Header carrying the session id, for routing ('' to disable).",
        ),
        click.option(
            "--timeout",
            type=FINITE,
            default=300.0,
            show_default=True,
            help="Seconds to wait to connect or for the next byte of a response.",
        ),
        click.option(
            "--transport",
            type=click.Choice(["raw", "aiohttp", "httpx"]),
            default="raw",
            show_default=True,
            help="HTTP client: raw (built-in HTTP/1.1, least CPU per request; TLS through "
            "asyncio for https), aiohttp or httpx. None asks for compression.",
        ),
        click.option(
            "--no-calibrate",
            is_flag=True,
            help="Do not calibrate text prompts with the target's /tokenize (assume 1 token "
            "per word).",
        ),
    ]


def parse_headers(values: tuple[str, ...], option: str) -> tuple[tuple[str, str], ...]:
    """('Name', 'value') pairs of 'Name: value' options. A malformed one is named by its
    position, never quoted: it may hold a key."""
    from agentload.base.errors import ConfigError

    out = []
    for i, value in enumerate(values, 1):
        key, sep, val = value.partition(":")
        if not sep:
            raise ConfigError(
                f"{option} (#{i} of {len(values)}): expected 'Name: value', got no ':' "
                "(the value is not shown: it may be secret)"
            )
        out.append((key.strip(), val.strip()))
    return tuple(out)


def _request_config(options: dict[str, Any]) -> dict[str, Any]:
    """The request options as `ReplayConfig` fields: headers parsed, the key resolved from
    --api-key and the environment (replay.keys), flags turned around."""
    import os

    from agentload.replay.keys import resolve_keys

    headers = parse_headers(options.pop("headers", ()), "--header")
    public = parse_headers(options.pop("public_headers", ()), "--public-header")
    options["headers"] = headers + public
    options["public_headers"] = tuple(name for name, _ in public)
    names = [name for name, _ in options["headers"]]
    options["api_keys"] = resolve_keys(options.pop("api_key", None), os.environ, names)
    if "session_header" in options:  # '' disables it
        options["session_header"] = options["session_header"] or None
    if "no_calibrate" in options:
        options["calibrate"] = not options.pop("no_calibrate")
    return options


def resolve_source(source: str) -> tuple[Path, str]:
    """SOURCE's file and the label recorded in META_INFO ("builtin:NAME" for a built-in).

    A built-in profile name wins over a file of the same name (as in `agentload profile`);
    anything else must be an existing file, or ConfigError lists the built-ins.
    """
    from agentload.profiles import builtin
    from agentload.profiles.load import resolve
    from agentload.traceformat.outputs import check_input

    path = check_input(resolve(source))  # a FIFO would block the open forever
    return path, f"builtin:{source}" if source in builtin.names() else source


def replay_config(source: str, **options: Any) -> ReplayConfig:
    """The `ReplayConfig` for SOURCE and the parsed click options (choices become enums)."""
    from agentload.replay.config import ApiChoice, ReplayConfig, TransportChoice
    from agentload.replay.target_setup import MODEL_FROM_TARGET, with_served_model
    from agentload.replay.targets import TargetKind

    path, label = resolve_source(source)
    options = _request_config(options)
    options["api"] = ApiChoice(options["api"])
    options["target_kind"] = TargetKind(options["target_kind"])
    if "transport" in options:
        options["transport"] = TransportChoice(options["transport"])
    if options["model"] is None:  # read from the target once the options are checked
        options["model"] = MODEL_FROM_TARGET
        config = ReplayConfig(source=path, source_label=label, **options)
        return with_served_model(config)
    return ReplayConfig(source=path, source_label=label, **options)
