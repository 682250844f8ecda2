"""Pure cost-model maths: how long one engine step takes.

step = overhead                                   (if the step does any work)
     + prefill_us_per_token * P                   P = prompt tokens computed this step
     + prefill_attn_ns_per_pair * A               A = sum over those tokens of their
                                                      position + 1 (causal attention)
     + decode_base_us                             (if B > 0)
     + decode_us_per_seq * B                      B = sequences decoding one token
     + decode_ns_per_ctx_token * C                C = their total context length
"""

from __future__ import annotations

from agentload.simengine.config import CostModel


def attention_pairs(start: int, length: int) -> int:
    """(token, context token) pairs of a prefill chunk covering positions start..start+length-1."""
    return length * start + length * (length + 1) // 2


def step_seconds(cost: CostModel, prefill: int, pairs: int, decode: int, ctx: int) -> float:
    """Duration of one step in seconds (0 when the step does nothing)."""
    if prefill == 0 and decode == 0:
        return 0.0
    us = cost.step_overhead_us + cost.prefill_us_per_token * prefill
    us += cost.prefill_attn_ns_per_pair * pairs / 1000.0
    if decode:
        us += cost.decode_base_us + cost.decode_us_per_seq * decode
        us += cost.decode_ns_per_ctx_token * ctx / 1000.0
    return us / 1e6


def cold_ttft_seconds(cost: CostModel, prompt: int, budget: int) -> float:
    """TTFT of one prompt on an idle engine: its chunked prefill steps, nothing cached."""
    total = 0.0
    done = 0
    while done < prompt:
        n = min(budget, prompt - done)
        total += step_seconds(cost, n, attention_pairs(done, n), 0, 0)
        done += n
    return total
