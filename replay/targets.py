"""Target kinds: what each engine or hosted API accepts, and how a kind is recognised.

The wire spellings live in `providers.requests` (`RequestStyle`); this module chooses one
per kind. The table is the code form of docs/engines.md's capability table, and the
preflight (`replay.preflight`) checks a live target against it.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from agentload.providers.requests import RequestStyle


class TargetKind(enum.StrEnum):
    AUTO = "auto"  # recognised by the preflight (`detect`)
    VLLM = "vllm"
    SGLANG = "sglang"
    LLAMACPP = "llamacpp"
    OPENAI = "openai"  # hosted OpenAI (api.openai.com) and strict OpenAI-compatible hosts
    ANTHROPIC = "anthropic"  # hosted Anthropic (api.anthropic.com)
    SIM = "sim"  # agentload's own simulated engine


@dataclass(frozen=True)
class Capabilities:
    """What a kind of target takes; None where it varies or is not known beforehand."""

    length_extensions: bool  # min_tokens / ignore_eos accepted (exact output lengths)
    chat_limit: str  # the Chat Completions cap field to send
    token_ids: bool  # token-id prompts on /v1/completions (exact prompt lengths)
    cache_salt: bool  # vLLM's `cache_salt` request field keys the prefix cache
    reset_path: str | None  # POST endpoint that empties the prefix cache
    tokenize: bool  # a /tokenize endpoint (text prompt calibration)

    def style(self, cache_salt: str | None = None) -> RequestStyle:
        """The request spelling for this kind (`cache_salt` sent only where it is taken)."""
        return RequestStyle(
            extensions=self.length_extensions,
            chat_limit=self.chat_limit,
            cache_salt=cache_salt if self.cache_salt else None,
        )


_ENGINE = Capabilities(True, "max_tokens", True, False, None, True)
CAPABILITIES: dict[TargetKind, Capabilities] = {
    # /reset_prefix_cache is served when vLLM runs with VLLM_SERVER_DEV_MODE=1.
    TargetKind.VLLM: Capabilities(True, "max_tokens", True, True, "/reset_prefix_cache", True),
    TargetKind.SGLANG: Capabilities(True, "max_tokens", True, False, "/flush_cache", False),
    TargetKind.LLAMACPP: _ENGINE,
    TargetKind.OPENAI: Capabilities(False, "max_completion_tokens", False, False, None, False),
    TargetKind.ANTHROPIC: Capabilities(False, "max_tokens", False, False, None, False),
    TargetKind.SIM: Capabilities(True, "max_tokens", True, False, "/reset_prefix_cache", True),
}
# An unrecognised OpenAI-compatible server: spelled as for vLLM, whose extensions most
# self-hosted engines accept; the preflight's probe tells when that is wrong.
UNKNOWN = _ENGINE

_OWNERS = {
    "vllm": TargetKind.VLLM,
    "sglang": TargetKind.SGLANG,
    "llamacpp": TargetKind.LLAMACPP,
    "agentload": TargetKind.SIM,
    "openai": TargetKind.OPENAI,
    "system": TargetKind.OPENAI,
    "openai-internal": TargetKind.OPENAI,
    "anthropic": TargetKind.ANTHROPIC,
}
_HOSTS = {"api.openai.com": TargetKind.OPENAI, "api.anthropic.com": TargetKind.ANTHROPIC}


@dataclass(frozen=True)
class Evidence:
    """What the preflight saw that tells kinds apart (all optional)."""

    url: str
    owned_by: tuple[str, ...] = ()  # /v1/models `owned_by` of every model
    model_types: tuple[str, ...] = ()  # /v1/models `type` ("model" on Anthropic)
    version: Mapping[str, object] | None = None  # /version payload (vLLM, SGLang)
    props: Mapping[str, object] | None = None  # /props payload (llama-server)
    server_header: str | None = None  # the `Server` response header


def detect(ev: Evidence) -> tuple[TargetKind | None, str]:
    """The kind the evidence points to, and why; (None, why not) when nothing does."""
    host = (urlsplit(ev.url).hostname or "").lower()
    if host in _HOSTS:
        return _HOSTS[host], f"host {host}"
    for owner in ev.owned_by:
        kind = _OWNERS.get(owner.lower())
        if kind is not None:
            return kind, f"/v1/models owned_by {owner!r}"
    if ev.props is not None and ("build_info" in ev.props or "total_slots" in ev.props):
        return TargetKind.LLAMACPP, "/props (llama-server)"
    server = (ev.server_header or "").lower()
    if "llama" in server:
        return TargetKind.LLAMACPP, f"server header {ev.server_header!r}"
    if ev.version is not None and "version" in ev.version:
        return TargetKind.VLLM, "/version (vLLM-shaped)"
    if "model" in ev.model_types:
        return TargetKind.ANTHROPIC, "/v1/models entries of type 'model' (Anthropic-shaped)"
    return None, "no /v1/models owner, /version, /props or server header recognised"


def capabilities(kind: TargetKind | None) -> Capabilities:
    """The capabilities of `kind`; an unrecognised target is treated as vLLM-like."""
    if kind is None or kind is TargetKind.AUTO:
        return UNKNOWN
    return CAPABILITIES[kind]
