"""`agentload sim`: serve the simulated OpenAI/Anthropic-compatible engine."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import click

from agentload.base.errors import ConfigError
from agentload.base.secret import Secret

_COST_OPTIONS = {
    "step_overhead_us": "fixed cost of every step (µs)",
    "prefill_us_per_token": "prefill cost per uncached prompt token (µs)",
    "prefill_attn_ns_per_pair": "prefill attention cost per (token, context token) pair (ns)",
    "decode_base_us": "cost of a step that decodes at least one sequence (µs)",
    "decode_us_per_seq": "extra decode cost per sequence in the batch (µs)",
    "decode_ns_per_ctx_token": "extra decode cost per context token of the batch (ns)",
}
_ENGINE_OPTIONS = {
    "kv_capacity_tokens": "KV cache capacity in tokens",
    "block_size": "KV block size in tokens (prefix-cache granularity)",
    "max_num_batched_tokens": "token budget of one step (chunked prefill)",
    "max_num_seqs": "maximum number of running sequences",
    "max_model_len": "maximum prompt + max_tokens of a request",
    "default_max_tokens": "output length cap when a request gives no max_tokens",
}


def _add_overrides(func: Any) -> Any:
    for name, text in reversed(list(_COST_OPTIONS.items())):
        flag = "--" + name.replace("_", "-")
        func = click.option(flag, name, type=float, default=None, help=f"{text} [preset]")(func)
    for name, text in reversed(list(_ENGINE_OPTIONS.items())):
        flag = "--" + name.replace("_", "-")
        func = click.option(flag, name, type=int, default=None, help=f"{text} [preset]")(func)
    return func


@click.command(name="sim")
@click.option("--host", default="127.0.0.1", show_default=True, help="address to bind")
@click.option("--port", default=8000, show_default=True, type=int, help="port (0: any free)")
@click.option(
    "--preset",
    type=click.Choice(["fast", "default"]),
    default="default",
    show_default=True,
    help="cost-model preset: fast (about zero cost) or default (8B model on one H100)",
)
@click.option("--model", default="agentload-sim", show_default=True, help="served model name")
@click.option(
    "--token-interval-ms",
    type=float,
    default=None,
    help="fix every engine step to this duration (exact token spacing at any batch size)",
)
@click.option(
    "--agent-script",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="JSON script of tool calls for requests that offer tools (docs/simengine.md)",
)
@click.option(
    "--timing-log",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="write one Arrow row per request (arrival, first token, end, tokens) to this file",
)
@click.option(
    "--tool-call-ids",
    type=click.Choice(["unique", "deterministic"]),
    default="unique",
    show_default=True,
    help="scripted tool-call ids: unique per call (as providers issue them) or derived "
    "from the prompt (equal prompts, equal ids: collisions for stitching tests)",
)
@click.option("--force", is_flag=True, help="replace the --timing-log file if it exists")
@click.option("--allow-faults", is_flag=True, help="honour the X-Sim-Fault request header")
@click.option("--no-prefix-caching", is_flag=True, help="disable the prefix cache")
@click.option(
    "--ignore-length-fields",
    is_flag=True,
    help="ignore min_tokens and ignore_eos and stop every output after 1-5 tokens, as a "
    "server that does not honour them (to test length checks)",
)
@click.option(
    "--strict",
    is_flag=True,
    help="answer request fields the hosted API rejects (min_tokens, ignore_eos, ...) with "
    "HTTP 400 in the API's error shape, as OpenAI and Anthropic do",
)
@click.option(
    "--api-key",
    envvar="AGENTLOAD_SIM_API_KEY",
    default=None,
    metavar="KEY",
    help="require this key on every route but /health (Authorization: Bearer for the OpenAI "
    "APIs, x-api-key for Anthropic messages), else HTTP 401; also read from "
    "AGENTLOAD_SIM_API_KEY, which keeps it out of the process list",
)
@_add_overrides
def command(**opts: Any) -> None:
    """Serve a simulated inference engine (OpenAI and Anthropic APIs) with a cost model."""
    from agentload.simengine.config import PRESETS, SimConfig
    from agentload.simengine.server import run

    base = PRESETS[opts["preset"]]
    cost = dataclasses.replace(
        base.cost, **{k: opts[k] for k in _COST_OPTIONS if opts[k] is not None}
    )
    engine = dataclasses.replace(
        base,
        cost=cost,
        token_interval_ms=opts["token_interval_ms"],
        enable_prefix_caching=not opts["no_prefix_caching"],
        ignore_length_fields=opts["ignore_length_fields"],
        **{k: opts[k] for k in _ENGINE_OPTIONS if opts[k] is not None},
    )
    config = SimConfig(
        engine=engine,
        host=opts["host"],
        port=opts["port"],
        model=opts["model"],
        preset=opts["preset"],
        agent_script=opts["agent_script"],
        timing_log=opts["timing_log"],
        allow_faults=opts["allow_faults"],
        tool_call_ids=opts["tool_call_ids"],
        strict=opts["strict"],
        api_key=Secret(opts["api_key"]) if opts["api_key"] else None,
    )
    config.validate()
    if config.timing_log is not None and not config.timing_log.parent.is_dir():
        raise ConfigError(f"{config.timing_log}: directory does not exist (--timing-log)")
    from agentload.traceformat.outputs import check_output

    check_output(config.timing_log, "--timing-log", force=opts["force"])
    run(config)
