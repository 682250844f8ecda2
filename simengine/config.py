"""Frozen, validated configuration of the simulated engine, and the presets.

Preset figures and their sources are documented in docs/simengine.md ("Cost model").
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from agentload.base.errors import ConfigError
from agentload.base.secret import Secret
from agentload.traceformat import limits


@dataclass(frozen=True, slots=True)
class CostModel:
    """Step duration = overhead + prefill + decode terms (see costmodel.step_seconds)."""

    step_overhead_us: float = 0.0  # every non-empty step (scheduling, launch)
    prefill_us_per_token: float = 0.0  # linear (MLP/projection) cost of one prompt token
    prefill_attn_ns_per_pair: float = 0.0  # attention: per (prompt token, context token) pair
    decode_base_us: float = 0.0  # a step with >= 1 decoding sequence: weight reads
    decode_us_per_seq: float = 0.0  # per decoding sequence in the batch
    decode_ns_per_ctx_token: float = 0.0  # KV reads: per context token of decoding sequences

    def validate(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if not value >= 0:
                raise ConfigError(f"sim option {field.name}: must be >= 0, got {value}")


@dataclass(frozen=True, slots=True)
class EngineConfig:
    cost: CostModel = CostModel()
    kv_capacity_tokens: int = 1 << 24
    block_size: int = 16
    max_num_batched_tokens: int = 1 << 20  # token budget of one step (chunked prefill)
    max_num_seqs: int = 1 << 16
    max_model_len: int = 1 << 20
    default_max_tokens: int = 256  # output cap when a request gives no max_tokens
    token_interval_ms: float | None = None  # fixes every step's duration when set
    enable_prefix_caching: bool = True
    # ignore min_tokens and ignore_eos, ending outputs at an early EOS (outputs.py)
    ignore_length_fields: bool = False

    def validate(self) -> None:
        self.cost.validate()
        positive = {
            "kv_capacity_tokens": self.kv_capacity_tokens,
            "block_size": self.block_size,
            "max_num_batched_tokens": self.max_num_batched_tokens,
            "max_num_seqs": self.max_num_seqs,
            "max_model_len": self.max_model_len,
            "default_max_tokens": self.default_max_tokens,
        }
        for name, value in positive.items():
            if value <= 0:
                raise ConfigError(f"sim option {name}: must be > 0, got {value}")
        # The limits table bounds every token count agentload accepts; it also bounds the
        # request body size below (max_body_bytes).
        limits.check_count("sim option max_model_len", self.max_model_len, 1, limits.MAX_TOKENS)
        if self.kv_capacity_tokens < self.block_size:
            raise ConfigError(
                f"sim option kv_capacity_tokens: {self.kv_capacity_tokens} is smaller than "
                f"one block ({self.block_size} tokens)"
            )
        if self.token_interval_ms is not None and not self.token_interval_ms > 0:
            raise ConfigError(
                f"sim option token_interval_ms: must be > 0, got {self.token_interval_ms}"
            )

    @property
    def num_blocks(self) -> int:
        return self.kv_capacity_tokens // self.block_size

    @property
    def max_body_bytes(self) -> int:
        """The largest request body read (413 beyond it, before any parsing)."""
        return BODY_BASE_BYTES + BODY_BYTES_PER_TOKEN * self.max_model_len


# Request bodies are bounded by the longest prompt a request may carry: text holds at most 6
# characters per token (longer prompts are refused before tokenizing), a token-id array about
# 8 bytes per id, and JSON's \uXXXX escapes of non-ASCII text stretch characters further;
# 16 bytes per token of --max-model-len plus 1 MiB for the envelope, tool definitions and
# sampling fields covers them. The largest --max-model-len (limits.MAX_TOKENS) gives ~161 MB
# (docs/simengine.md, "Errors").
BODY_BYTES_PER_TOKEN: Final = 16
BODY_BASE_BYTES: Final = 1 << 20


PRESETS: Final[dict[str, EngineConfig]] = {
    # About zero cost: measures client overhead; tokens as fast as the event loop allows.
    "fast": EngineConfig(),
    # Shaped like Llama-3.1-8B (bf16) on one H100-80GB under vLLM; see docs/simengine.md.
    "default": EngineConfig(
        cost=CostModel(
            step_overhead_us=1500.0,
            prefill_us_per_token=55.0,
            prefill_attn_ns_per_pair=2.0,
            decode_base_us=5000.0,
            decode_us_per_seq=25.0,
            decode_ns_per_ctx_token=45.0,
        ),
        kv_capacity_tokens=400_000,
        block_size=16,
        max_num_batched_tokens=8192,
        max_num_seqs=1024,
        max_model_len=131_072,
        default_max_tokens=256,
    ),
}


@dataclass(frozen=True, slots=True)
class SimConfig:
    engine: EngineConfig
    host: str = "127.0.0.1"
    port: int = 0
    model: str = "agentload-sim"
    preset: str = "fast"
    agent_script: Path | None = None
    timing_log: Path | None = None
    allow_faults: bool = False
    seed: int = 0
    tool_call_ids: str = "unique"  # or "deterministic": derived from the prompt
    strict: bool = False  # refuse request fields hosted APIs reject (simengine.strict)
    api_key: Secret | None = None  # required on every route but /health when set

    def validate(self) -> None:
        self.engine.validate()
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"sim option port: must be 0..65535, got {self.port}")
        if not self.model:
            raise ConfigError("sim option model: must not be empty")
        if self.tool_call_ids not in ("unique", "deterministic"):
            raise ConfigError(
                f"sim option tool_call_ids: unique or deterministic, got {self.tool_call_ids!r}"
            )
        if self.agent_script is not None and not self.agent_script.is_file():
            raise ConfigError(f"{self.agent_script}: agent script not found")
