"""Calibrate synthetic text against the target's tokenizer (vLLM-shaped `/tokenize`).

Chat and messages prompts are text, so their token count depends on the target's tokenizer.
We measure tokens per word once on a sample, then measure the drift of whole prompts built
with that ratio; both go into the run's diagnostics. Without `/tokenize`, a local Hugging
Face tokenizer given with `--tokenizer` counts instead (no chat template: its few tokens are
not added); without either the ratio stays 1.0 and the diagnostics say so.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import httpx

from agentload.base.errors import ConfigError
from agentload.replay.materialize import Materializer
from agentload.replay.plan import CallPlan
from agentload.replay.transport import tls_context

SAMPLE_IDS = (11, 22, 33, 44)
SAMPLE_WORDS = 256
DRIFT_SIZES = (500, 2000, 8000)


@dataclass(frozen=True)
class Calibration:
    tokens_per_word: float
    drift: float | None  # mean (measured - intended) / intended over sample prompts
    note: str
    against: str | None = None  # what counted the tokens; None: not calibrated


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


# Counts the tokens of a text (with `chat`: of one user message, template applied); None
# when the counter cannot (no endpoint, no chat template).
type Counter = Callable[[str, bool], int | None]


def calibrate(
    mat: Materializer, base: str, headers: dict[str, str], tokenizer: Path | None = None
) -> tuple[Materializer, Calibration]:
    """Return `mat` with a measured tokens-per-word ratio, and what was measured: against
    the target's `/tokenize`, else against the local `tokenizer` when given."""
    with httpx.Client(timeout=30.0, headers=headers, verify=tls_context()) as client:

        def remote(text: str, chat: bool) -> int | None:
            return count_tokens(client, base, mat.model, text, chat)

        got = _calibrate_with(mat, remote, f"{base}/tokenize")
    if got is not None:
        return got
    if tokenizer is not None:
        local = _calibrate_with(mat, local_counter(tokenizer), f"the local tokenizer {tokenizer}")
        if local is not None:
            return local
    note = f"{base}/tokenize unavailable: text prompts assume 1 token per word"
    return mat, Calibration(1.0, None, note)


def local_counter(path: Path) -> Counter:
    """Token counts from a local Hugging Face tokenizer (`tokenizers` library): a directory
    holding tokenizer.json, or the file. No chat template: chat counts are None."""
    try:
        from tokenizers import Tokenizer
    except ImportError:
        raise ConfigError(
            "--tokenizer: needs the tokenizers package (pip install 'agentload[tokenizer]')"
        ) from None
    file = path / "tokenizer.json" if path.is_dir() else path
    try:
        tok = Tokenizer.from_file(str(file))
    except Exception as exc:  # the library raises plain Exceptions for unreadable files
        raise ConfigError(f"--tokenizer: {file}: not a tokenizer.json ({exc})") from None

    def count(text: str, chat: bool) -> int | None:
        return None if chat else len(tok.encode(text, add_special_tokens=False).ids)

    return count


def _calibrate_with(
    mat: Materializer, count: Counter, where: str
) -> tuple[Materializer, Calibration] | None:
    """`mat` tuned against `count`, or None when `count` cannot count."""
    probe = Materializer(mat.api, mat.model, block_size=SAMPLE_WORDS, tokens_per_word=1.0)
    sample = " ".join(probe.text([h], SAMPLE_WORDS) for h in SAMPLE_IDS)
    words = len(sample.split())
    total = count(sample, False)
    if total is None or total <= 0:
        return None
    tuned = replace(mat, tokens_per_word=total / words)
    in_chat = count(sample, True)
    if in_chat is not None and in_chat >= total:
        tuned = replace(tuned, template_tokens=in_chat - total)
    # Whole prompts join blocks with spaces and cut the last one, so their ratio differs
    # a little from the sample's: correct once by the measured drift, then measure again.
    drift = _drift(count, tuned)
    if drift is not None and abs(drift) > 0.005:
        tuned = replace(tuned, tokens_per_word=tuned.tokens_per_word * (1 + drift))
        drift = _drift(count, tuned)
    note = (
        f"calibrated against {where}: {tuned.tokens_per_word:.3f} tokens/word, "
        f"{tuned.template_tokens} chat-template tokens"
    )
    return tuned, Calibration(tuned.tokens_per_word, drift, note, against=where)


def _drift(count: Counter, mat: Materializer) -> float | None:
    """Mean (measured - intended) / intended token count over prompts of DRIFT_SIZES."""
    drifts = []
    for size in DRIFT_SIZES:
        call = CallPlan(0, 0.0, size, 1, None, final=True)
        ids = mat.blocks("calibration", call, None)
        measured = count(mat.text(ids, size), False)
        if measured is not None:
            drifts.append((measured - size) / size)
    return sum(drifts) / len(drifts) if drifts else None
