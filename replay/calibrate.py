"""Calibrate synthetic text against the target's tokenizer (vLLM-shaped `/tokenize`).

Chat and messages prompts are text, so their token count depends on the target's tokenizer.
We measure tokens per word once on a sample, then measure the drift of whole prompts built
with that ratio; both go into the run's diagnostics. Without `/tokenize` the ratio stays 1.0
and the diagnostics say so.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import httpx

from agentload.replay.materialize import Materializer
from agentload.replay.plan import CallPlan

SAMPLE_IDS = (11, 22, 33, 44)
SAMPLE_WORDS = 256
DRIFT_SIZES = (500, 2000, 8000)


@dataclass(frozen=True)
class Calibration:
    tokens_per_word: float
    drift: float | None  # mean (measured - intended) / intended over sample prompts
    note: str


def count_tokens(
    client: httpx.Client, base: str, model: str, text: str, chat: bool = False
) -> int | None:
    """Token count of `text` from `/tokenize` (vLLM/SGLang shape, then llama.cpp shape);
    with `chat`, of one user message with the chat template applied (vLLM shape only)."""
    payloads: list[dict[str, object]] = (
        [{"model": model, "messages": [{"role": "user", "content": text}]}]
        if chat
        else [{"model": model, "prompt": text}, {"content": text}]
    )
    for payload in payloads:
        try:
            resp = client.post(f"{base}/tokenize", json=payload)
        except httpx.HTTPError:
            return None
        if resp.status_code != 200:
            continue
        try:
            data = resp.json()
        except ValueError:
            continue
        if isinstance(data, dict):
            if isinstance(data.get("count"), int):
                return int(data["count"])
            tokens = data.get("tokens")
            # llama.cpp answers the vLLM shape with 200 and `"tokens": []`: not a count,
            # so go on to its own shape rather than calibrating against zero.
            if isinstance(tokens, list) and (tokens or not text):
                return len(tokens)
    return None


def calibrate(
    mat: Materializer, base: str, headers: dict[str, str]
) -> tuple[Materializer, Calibration]:
    """Return `mat` with a measured tokens-per-word ratio, and what was measured."""
    with httpx.Client(timeout=30.0, headers=headers) as client:
        probe = Materializer(mat.api, mat.model, block_size=SAMPLE_WORDS, tokens_per_word=1.0)
        sample = " ".join(probe.text([h], SAMPLE_WORDS) for h in SAMPLE_IDS)
        words = len(sample.split())
        total = count_tokens(client, base, mat.model, sample)
        if total is None or total <= 0:
            note = f"{base}/tokenize unavailable: text prompts assume 1 token per word"
            return mat, Calibration(1.0, None, note)
        tuned = replace(mat, tokens_per_word=total / words)
        in_chat = count_tokens(client, base, mat.model, sample, chat=True)
        if in_chat is not None and in_chat >= total:
            tuned = replace(tuned, template_tokens=in_chat - total)
        # Whole prompts join blocks with spaces and cut the last one, so their ratio differs
        # a little from the sample's: correct once by the measured drift, then measure again.
        drift = _drift(client, base, tuned)
        if drift is not None and abs(drift) > 0.005:
            tuned = replace(tuned, tokens_per_word=tuned.tokens_per_word * (1 + drift))
            drift = _drift(client, base, tuned)
    note = (
        f"calibrated against {base}/tokenize: {tuned.tokens_per_word:.3f} tokens/word, "
        f"{tuned.template_tokens} chat-template tokens"
    )
    return tuned, Calibration(tuned.tokens_per_word, drift, note)


def _drift(client: httpx.Client, base: str, mat: Materializer) -> float | None:
    """Mean (measured - intended) / intended token count over prompts of DRIFT_SIZES."""
    drifts = []
    for size in DRIFT_SIZES:
        call = CallPlan(0, 0.0, size, 1, None, final=True)
        ids = mat.blocks("calibration", call, None)
        measured = count_tokens(client, base, mat.model, mat.text(ids, size))
        if measured is not None:
            drifts.append((measured - size) / size)
    return sum(drifts) / len(drifts) if drifts else None
