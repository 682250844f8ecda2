"""What a run measured, as compare checks before judging one run against another: the
workload, the load mode, the model, the cache-salt policy, the engine that answered and the
agentload version, read from the result file's META_INFO (replay.pipeline.run_info and
replay.target_setup.ReadyTarget.info). Runs that differ in any of these are not a like-for-
like comparison; compare says so rather than refusing, since that is sometimes the point."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

ASPECTS = ("workload", "mode", "model", "salt policy", "engine", "agentload version")


def _options(info: dict[str, Any]) -> dict[str, Any]:
    options = info.get("options")
    return options if isinstance(options, dict) else {}


def mode(info: dict[str, Any]) -> str | None:
    """The arrival mode and its load level, e.g. 'closed loop, concurrency 16'."""
    opts = _options(info)
    if not opts:
        return None
    if opts.get("concurrency"):
        return f"closed loop, concurrency {opts['concurrency']}"
    if opts.get("session_rate"):
        kind = "Poisson" if opts.get("poisson") else "uniform"
        return f"open loop, {opts['session_rate']} sessions/s ({kind})"
    return f"recorded arrivals, speed {opts.get('speed', 1.0)}"


def salt_policy(info: dict[str, Any]) -> str | None:
    pinned = info.get("cache_salt_pinned")
    reset = " + --reset-cache" if _options(info).get("reset_cache") else ""
    if pinned is None:
        return None
    return ("pinned --cache-salt" if pinned else "fresh salt per run") + reset


def engine(info: dict[str, Any]) -> str | None:
    """The engine as its preflight saw it: served models, server header, version, props
    (llama-server's context), and the KV cache configuration (vLLM's and the sim's
    `cache_config_info`: block size, number of blocks), so that two runs against the same
    engine with a different KV capacity are flagged."""
    ident = info.get("target_identity")
    if not isinstance(ident, dict):
        return None
    models = ident.get("models")
    ids = [m.get("id") for m in models if isinstance(m, dict)] if isinstance(models, list) else []
    keys = ("server", "version", "props", "cache_config_info")
    seen = {"models": ids, **{k: ident.get(k) for k in keys}}
    return json.dumps({k: v for k, v in seen.items() if v}, sort_keys=True, default=str)


def identity(info: dict[str, Any]) -> dict[str, str | None]:
    def text(key: str) -> str | None:
        value = info.get(key)
        return None if value is None else str(value)

    return {
        "workload": text("source"),
        "mode": mode(info),
        "model": text("model"),
        "salt policy": salt_policy(info),
        "engine": engine(info),
        "agentload version": text("agentload_version"),
    }


def mismatches(names: Sequence[str], infos: Sequence[dict[str, Any]]) -> list[str]:
    """One warning per aspect the runs differ in (unrecorded counts as a value)."""
    seen = [identity(info) for info in infos]
    out = []
    for aspect in ASPECTS:
        shown = [x[aspect] for x in seen]
        if len(set(shown)) > 1:
            each = "; ".join(
                f"{n}: {v or 'not recorded'}" for n, v in zip(names, shown, strict=True)
            )
            out.append(f"runs differ in {aspect}: {each}")
    return out
