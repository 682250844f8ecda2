"""The preflight: before the clock starts, find out what answers at --target and whether a
run against it can be faithful.

1. GET /v1/models: the target is reachable (else a one-line error naming the URL within
   5 s) and serves --model (else the served models and the server's own message).
2. Identity, recorded in META_INFO: /v1/models, /version (vLLM, SGLang), /props
   (llama-server), vLLM's `cache_config_info` from /metrics; from these and the host the
   target kind (`replay.targets.detect`) when --target-kind is auto.
3. One small streamed probe per API the run uses, spelled as the run's requests will be:
   the answer's shape, usage in the stream, cached-token reporting, and whether the
   16 output tokens asked for (greedily, of a prompt whose natural answer is one word) came
   back.

All of it, first contact and cache reset included, ends within PREFLIGHT_TIMEOUTS x
--timeout (`target_http.Deadline`). Problems that make the run unfaithful raise
UnfaithfulRunError (exit 3); `--no-preflight` skips all of it (the kind then comes from
--target-kind or the host name alone).
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import asdict, dataclass, field
from typing import TextIO
from urllib.parse import urlsplit

import httpx

from agentload.base.errors import ConfigError, UnfaithfulRunError
from agentload.providers.api import ENDPOINTS, Api, request_headers
from agentload.providers.requests import RequestStyle, synthetic_body
from agentload.replay import target_http as th
from agentload.replay.config import ReplayConfig
from agentload.replay.targets import Capabilities, Evidence, TargetKind, capabilities, detect

PROBE_TOKENS = 16
# The probes' session header value, so an engine's log (the sim's timing log) tells them apart.
PREFLIGHT_SESSION = "agentload-preflight"
# The natural answer is one word: only a target that honours the length fields returns 16.
PROBE_TEXT = "Answer with one word only. Is the sky blue?"
PROBE_IDS = "[" + ",".join(str(1000 + 37 * i) for i in range(24)) + "]"
MAX_LISTED = 20  # served models named in an error
_CACHE_CONFIG = re.compile(r"^vllm:cache_config_info\{([^}]*)\}", re.MULTILINE)
_LABEL = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"')


@dataclass(frozen=True)
class ProbeFinding:
    api: str
    status: int
    error: str | None
    asked: int
    got: int | None  # completion tokens reported (None: no usage)
    stream_usage: bool  # usage arrived in the stream
    cached_reported: bool  # a cached-token field was in the usage
    content_events: int
    elapsed_s: float

    @property
    def ok(self) -> bool:
        return self.status == 200 and self.error is None and self.content_events > 0


@dataclass(frozen=True)
class TargetReport:
    """What the preflight found and what the run will send accordingly."""

    kind: TargetKind | None
    kind_source: str
    caps: Capabilities
    checked: bool  # the preflight ran (not --no-preflight)
    identity: dict[str, object] = field(default_factory=dict)
    probes: tuple[ProbeFinding, ...] = ()
    notes: tuple[str, ...] = ()

    def style(self, cache_salt: str | None = None) -> RequestStyle:
        return self.caps.style(cache_salt)

    def info(self) -> dict[str, object]:
        """JSON-ready META_INFO entry (no header values anywhere)."""
        return {
            "checked": self.checked,
            "kind": None if self.kind is None else str(self.kind),
            "kind_source": self.kind_source,
            "capabilities": asdict(self.caps),
            "probes": [asdict(p) for p in self.probes],
            "notes": list(self.notes),
        }


def served_models(payload: object) -> list[dict[str, object]] | None:
    """The entries of a /v1/models answer (id, owned_by, max_model_len, type), or None."""
    data = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(data, list):
        return None
    keep = ("id", "owned_by", "max_model_len", "type")
    return [{k: m[k] for k in keep if k in m} for m in data if isinstance(m, dict)]


def cache_config(metrics_text: str) -> dict[str, str] | None:
    """vLLM's engine cache configuration, from its `vllm:cache_config_info` metric labels."""
    m = _CACHE_CONFIG.search(metrics_text)
    return dict(_LABEL.findall(m.group(1))) if m else None


def props_summary(props: object) -> dict[str, object] | None:
    """The build and context of a llama-server /props answer (not its chat template)."""
    if not isinstance(props, dict):
        return None
    out = {k: props[k] for k in ("build_info", "model_path", "total_slots") if k in props}
    settings = props.get("default_generation_settings")
    if isinstance(settings, dict) and "n_ctx" in settings:
        out["n_ctx"] = settings["n_ctx"]
    return out or None


def probe_body(api: Api, model: str, style: RequestStyle) -> bytes:
    """The run's spelling, plus temperature 0: greedy decoding makes the answer, and so a
    length check of a target that ignores the length fields, the same every time (sampled,
    llama-server's /v1/messages sometimes rambled on to the 16 tokens asked)."""
    prompt = PROBE_IDS if api is Api.OPENAI_COMPLETIONS else json.dumps(PROBE_TEXT)
    body = json.loads(synthetic_body(api, json.dumps(model), prompt, PROBE_TOKENS, style))
    body["temperature"] = 0
    return json.dumps(body).encode()


def judge(reply: th.ProbeReply, caps: Capabilities) -> tuple[ProbeFinding, list[str], list[str]]:
    """(finding, problems that stop the run, notes) for one probe answer."""
    usage = reply.summary.usage
    finding = ProbeFinding(
        api=str(reply.api),
        status=reply.status,
        error=reply.error,
        asked=PROBE_TOKENS,
        got=usage.completion,
        stream_usage=usage.completion is not None,
        cached_reported=usage.cached is not None,
        content_events=reply.content_events,
        elapsed_s=round(reply.elapsed_s, 3),
    )
    name = f"{reply.api}"
    if reply.status != 200 or reply.error is not None:
        return finding, [f"{name} probe answered {reply.status}: {reply.error}"], []
    if reply.content_events == 0:
        return finding, [f"{name} probe: the stream carried no output events"], []
    problems: list[str] = []
    notes: list[str] = []
    if usage.completion is None:
        notes.append(f"{name}: no usage in the stream (token counts from events only)")
    elif usage.completion != PROBE_TOKENS:
        what = f"{name}: asked for {PROBE_TOKENS} output tokens, got {usage.completion}"
        if caps.length_extensions:
            problems.append(f"{what}: the length fields (min_tokens, ignore_eos) are ignored")
        else:
            notes.append(f"{what}: this kind cannot force output lengths")
    if usage.cached is None:
        notes.append(f"{name}: no cached-token report (observed cache hit will be empty)")
    return finding, problems, notes


def hint(message: str, status: int, api: Api, base: str) -> str:
    """What to try for a probe's error, from the status and the server's words."""
    low = message.lower()
    if any(w in low for w in ("min_tokens", "ignore_eos", "unrecognized request", "extra inputs")):
        return "the target rejects vLLM's length fields: try --target-kind openai or anthropic"
    if status in (401, 403):
        return "the target wants a key: give it with --api-key"
    if status == 404 and urlsplit(base).path.rstrip("/").endswith("/v1"):
        return "--target is the base URL, without /v1"
    if api is Api.OPENAI_COMPLETIONS and ("chat" in low or "prompt" in low):
        return "token-id prompts need /v1/completions: try --api chat"
    return ""


def check_token_ids(kind: TargetKind | None, caps: Capabilities, apis: list[Api]) -> None:
    """Token-id prompts (synthetic --api completions) only where the kind takes them."""
    if Api.OPENAI_COMPLETIONS in apis and not caps.token_ids:
        raise ConfigError(
            f"--api completions sends token-id prompts, which {kind} targets do not take: "
            "use --api chat (or --api messages for Anthropic)"
        )


def chosen_kind(config: ReplayConfig, ev: Evidence) -> tuple[TargetKind | None, str]:
    if config.target_kind is not TargetKind.AUTO:
        return config.target_kind, "--target-kind"
    kind, why = detect(ev)
    return kind, f"auto: {why}"


def contact(config: ReplayConfig, api: Api) -> th.Fetched | None:
    """The first contact, before anything slow (loading the source): GET /v1/models, so an
    engine that is down, a wrong path or a missing key is reported within seconds. None
    with --no-preflight."""
    if not config.preflight:
        return None
    base = config.target.rstrip("/")
    with th.client(config.timeout, _get_headers(config, api)) as http:
        models = th.get(http, base + "/v1/models", th.Deadline(config.timeout), required=True)
    if models.status in (401, 403):
        said = config.redactor()(th.server_message(models.text))
        raise UnfaithfulRunError(
            f"preflight: GET {base}/v1/models answered {models.status}: {said} "
            "(give the key with --api-key)"
        )
    if models.status == 404 and urlsplit(base).path.rstrip("/").endswith("/v1"):
        raise UnfaithfulRunError(
            f"preflight: GET {base}/v1/models answered 404: --target is the base URL, without /v1"
        )
    return models


def _get_headers(config: ReplayConfig, api: Api) -> dict[str, str]:
    # the key as the run's API expects it, and Anthropic's version header
    return config.target_headers(api) | request_headers(api)


def deadline(config: ReplayConfig, models: th.Fetched | None) -> th.Deadline:
    """What is left of the preflight's deadline after the first contact (`models`)."""
    return th.Deadline(config.timeout, models.elapsed_s if models else 0.0)


def prepare(
    config: ReplayConfig,
    apis: list[Api],
    synthetic: bool,
    models: th.Fetched | None,
    limit: th.Deadline,
) -> TargetReport:
    """The target's kind and capabilities, checked by the preflight unless disabled
    (`models`: what `contact` fetched; None: no preflight) within `limit`."""
    base = config.target.rstrip("/")
    if models is None:
        kind, source = chosen_kind(config, Evidence(base))
        caps = capabilities(kind)
        if synthetic:
            check_token_ids(kind, caps, apis)
        return TargetReport(kind, source, caps, checked=False)
    with th.client(config.timeout, _get_headers(config, apis[0])) as http:
        ev, identity = _identity(http, base, models, limit)
        kind, source = chosen_kind(config, ev)
        caps = capabilities(kind)
        if synthetic:
            check_token_ids(kind, caps, apis)
        report = TargetReport(kind, source, caps, True, identity)
        return _probe_all(http, config, base, apis, report, limit)


def _identity(
    http: httpx.Client, base: str, models: th.Fetched, limit: th.Deadline
) -> tuple[Evidence, dict[str, object]]:
    entries = served_models(models.payload)
    version = th.get(http, base + "/version", limit)
    props = th.get(http, base + "/props", limit)
    identity: dict[str, object] = {"models_status": models.status, "models": entries}
    if models.server:
        identity["server"] = models.server
    version_payload = version.payload if version.status == 200 else None
    if isinstance(version_payload, dict):
        identity["version"] = version_payload
    props_info = props_summary(props.payload) if props.status == 200 else None
    if props_info:
        identity["props"] = props_info
    ev = Evidence(
        url=base,
        owned_by=tuple(str(m.get("owned_by")) for m in entries or () if m.get("owned_by")),
        model_types=tuple(str(m.get("type")) for m in entries or () if m.get("type")),
        version=version_payload if isinstance(version_payload, dict) else None,
        props=props.payload if props_info and isinstance(props.payload, dict) else None,
        server_header=models.server,
    )
    kind, _ = detect(ev)
    if kind in (TargetKind.VLLM, TargetKind.SIM):  # the sim reports vLLM's metric too
        metrics = th.get(http, base + "/metrics", limit)
        config = cache_config(metrics.text) if metrics.status == 200 else None
        if config:
            identity["cache_config_info"] = config
    return ev, identity


def _probe_all(
    http: httpx.Client,
    config: ReplayConfig,
    base: str,
    apis: list[Api],
    report: TargetReport,
    limit: th.Deadline,
) -> TargetReport:
    entries = report.identity.get("models")
    served = [str(m.get("id")) for m in entries] if isinstance(entries, list) else None
    listed = served is None or config.model in served
    notes: list[str] = []
    if served is None:
        notes.append(f"GET {base}/v1/models answered {report.identity.get('models_status')}")
    findings: list[ProbeFinding] = []
    problems: list[str] = []
    for api in apis:
        headers = config.target_headers(api) | request_headers(api)
        if config.session_header:
            headers[config.session_header] = PREFLIGHT_SESSION
        body = probe_body(api, config.model, report.style())
        url = base + ENDPOINTS[api]
        reply = th.probe(http, url, api, body, headers, config.redactor(), limit)
        finding, bad, more = judge(reply, report.caps)
        findings.append(finding)
        notes.extend(more)
        if bad and not listed and not finding.ok:
            names = ", ".join(served[:MAX_LISTED]) if served else "none"
            raise UnfaithfulRunError(
                f"preflight: model {config.model!r} is not served by {base} (served: {names}); "
                f"the server said: {reply.error}"
            )
        if bad and reply.status != 200:
            extra = hint(reply.error or "", reply.status, api, base)
            bad = [f"{b} ({extra})" if extra else b for b in bad]
        problems.extend(bad)
    if not listed:
        notes.append(f"model {config.model!r} is not in /v1/models but the target answered")
    done = TargetReport(
        report.kind, report.kind_source, report.caps, True, report.identity, tuple(findings),
        tuple(notes),
    )  # fmt: skip
    if problems:
        if not config.quiet:
            print_block(done, sys.stderr)
        raise UnfaithfulRunError(
            f"preflight of {base}: " + "; ".join(problems) + " (--no-preflight runs anyway)"
        )
    return done


def summary_lines(report: TargetReport) -> list[str]:
    """The compact block the preflight prints (also used for --no-preflight)."""
    kind = report.kind or "unrecognised (sent as for vLLM)"
    lines = [f"target: {kind} ({report.kind_source})"]
    bits = _engine_bits(report.identity)
    if bits:
        lines.append("  engine: " + ", ".join(bits))
    caps = report.caps
    lengths = "max_tokens" if not caps.length_extensions else "max_tokens + min_tokens/ignore_eos"
    if caps.chat_limit != "max_tokens":
        lengths += f" ({caps.chat_limit} on chat)"
    lines.append(f"  sends: {lengths}; token-id prompts {'yes' if caps.token_ids else 'no'}")
    for p in report.probes:
        state = "ok" if p.ok else f"failed ({p.status})"
        lines.append(
            f"  {p.api}: {state}; {p.got if p.got is not None else '?'}/{p.asked} tokens; "
            f"usage in stream {_yn(p.stream_usage)}; cached tokens {_yn(p.cached_reported)}"
        )
    lines.extend(f"  note: {n}" for n in report.notes)
    return lines


def _engine_bits(ident: dict[str, object]) -> list[str]:
    bits = []
    version, props, cc = (ident.get(k) for k in ("version", "props", "cache_config_info"))
    if isinstance(version, dict):
        bits.append(f"version {version.get('version')}")
    if isinstance(props, dict):
        bits.extend(f"{k} {props[k]}" for k in ("build_info", "n_ctx") if k in props)
    if isinstance(cc, dict):
        bits.append(f"prefix caching {cc.get('enable_prefix_caching')}")
    return bits


def print_block(report: TargetReport, stream: TextIO) -> None:
    print("\n".join(summary_lines(report)), file=stream)


def reset_cache(config: ReplayConfig, report: TargetReport, limit: th.Deadline) -> str:
    """Empty the target's prefix cache where it offers a way (--reset-cache); what happened.
    An unrecognised target is tried at vLLM's path."""
    path = report.caps.reset_path
    if path is None and report.kind is None:
        path = "/reset_prefix_cache"
    if path is None:
        return f"--reset-cache: a {report.kind} target offers no prefix-cache reset"
    url = config.target.rstrip("/") + path
    with th.client(config.timeout, config.target_headers()) as http:
        status, text = th.post_empty(http, url, limit)
    if status == 200:
        return f"prefix cache reset (POST {path})"
    said = config.redactor()(th.server_message(text))
    why = "not served" if status == 404 else f"answered {status}: {said}"
    if status == 404 and report.kind is TargetKind.VLLM:
        why += " (vLLM serves it with VLLM_SERVER_DEV_MODE=1)"
    return f"--reset-cache: cannot reset the prefix cache: POST {url} {why}"


def _yn(flag: bool) -> str:
    return "yes" if flag else "no"
