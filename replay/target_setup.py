"""Everything a run settles about its target before the clock starts: the preflight, the
request style per target kind, the cache reset and the run's cache salt.

Isolation: synthetic prompts are built from token blocks salted with the run's cache salt
(a fresh run id unless --cache-salt pins it), so sharing inside the run is exactly the
profile's while two runs, or two sweep points, share nothing in the engine's prefix cache.
Verbatim trace bodies cannot be salted: they carry vLLM's `cache_salt` field where the
target kind takes it, else the run recommends --reset-cache.
"""

from __future__ import annotations

import sys
import uuid
from dataclasses import dataclass, replace

from agentload.base.errors import ConfigError
from agentload.providers.api import Api
from agentload.providers.requests import RequestStyle
from agentload.replay import preflight
from agentload.replay.config import ApiChoice, ReplayConfig
from agentload.replay.plan import Plan
from agentload.replay.target_http import Fetched
from agentload.replay.targets import TargetKind
from agentload.replay.tracesource import plan_apis, restyled


@dataclass(frozen=True)
class ReadyTarget:
    plan: Plan  # verbatim bodies respelled for the target
    style: RequestStyle  # how synthetic requests are spelled
    salt: str  # the run's cache salt (run id or --cache-salt)
    report: preflight.TargetReport
    notes: tuple[str, ...]  # reset and isolation notes

    def info(self, pinned: bool) -> dict[str, object]:
        """META_INFO entries: what answered, what the preflight found, the isolation."""
        found = self.report.info()
        found["notes"] = [*self.report.notes, *self.notes]
        return {
            "preflight": found,
            "target_identity": self.report.identity,
            "cache_salt": self.salt,
            "cache_salt_pinned": pinned,
        }


def new_run_id() -> str:
    return uuid.uuid4().hex[:12]


# ReplayConfig.model while --model is left out, until with_served_model replaces it
MODEL_FROM_TARGET = "<served by the target>"


def with_served_model(config: ReplayConfig) -> ReplayConfig:
    """`config` with the one model the target serves (GET /v1/models), for a run whose
    --model was left out; a target serving none or several, or --no-preflight, is a
    ConfigError asking for --model."""
    if not config.preflight:
        raise ConfigError("--model: required with --no-preflight (else read from /v1/models)")
    models = contact(config)
    entries = preflight.served_models(models.payload) if models else None
    ids = [str(m["id"]) for m in entries or [] if "id" in m]
    base = config.target.rstrip("/")
    if len(ids) != 1:
        listed = ", ".join(ids[: preflight.MAX_LISTED]) or "none"
        raise ConfigError(
            f"--model: not given, and {base}/v1/models lists {len(ids)} models ({listed}): "
            "name the one to use with --model"
        )
    if not config.quiet:
        print(f"model: {ids[0]} (the one model {base} serves)", file=sys.stderr, flush=True)
    return replace(config, model=ids[0])


def contact(config: ReplayConfig) -> Fetched | None:
    """The preflight's first contact (`preflight.contact`), made before the source loads."""
    anthropic = config.target_kind is TargetKind.ANTHROPIC or config.api is ApiChoice.MESSAGES
    return preflight.contact(config, Api.ANTHROPIC_MESSAGES if anthropic else config.api.api)


def ready(config: ReplayConfig, plan: Plan, models: Fetched | None) -> ReadyTarget:
    """Check the target (unless --no-preflight: `models` None), reset its cache
    (--reset-cache) and choose what the run sends; prints the preflight's block on stderr
    unless --quiet."""
    salt = config.cache_salt or new_run_id()
    apis = plan_apis(plan) if plan.verbatim else [config.api.api]
    limit = preflight.deadline(config, models)
    report = preflight.prepare(config, apis, not plan.verbatim, models, limit)
    notes: list[str] = []
    if config.reset_cache:
        notes.append(preflight.reset_cache(config, report, limit))
    if plan.verbatim:
        plan = restyled(plan, report.style(salt))
        notes.append(_verbatim_note(report, apis, config.reset_cache))
    if not config.quiet:
        shown = preflight.TargetReport(
            report.kind, report.kind_source, report.caps, report.checked, report.identity,
            report.probes, (*report.notes, *notes),
        )  # fmt: skip
        preflight.print_block(shown, sys.stderr)
    return ReadyTarget(plan, report.style(), salt, report, tuple(notes))


def _verbatim_note(report: preflight.TargetReport, apis: list[Api], reset: bool) -> str:
    if report.caps.cache_salt:
        return "verbatim trace: vLLM's cache_salt sent with chat and completions requests"
    if reset:
        return "verbatim trace: bodies cannot be salted; isolation rests on --reset-cache"
    return (
        "verbatim trace: bodies cannot be salted, so an earlier run's prefix cache may "
        "serve this one: use --reset-cache where the target offers it"
    )
