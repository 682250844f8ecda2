"""Pure parts: tokenizer, block hashing rules, distribution fitting."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentload.profiles import fit
from agentload.profiles.blocks import HashKey, hash_prompt
from agentload.traceformat.tokens import tokenize

KEY = HashKey(b"k" * 32)


@given(st.text())
def test_tokenizer_covers_every_character(text: str) -> None:
    assert "".join(tokenize(text)) == text


def test_tokenizer_is_roughly_bpe_sized() -> None:
    text = "The quick brown fox jumps over the lazy dog, then writes tests_for_parsers(x=1234)."
    assert 17 <= len(tokenize(text)) <= 30


def _tokens(rng: random.Random, n: int) -> list[str]:
    return [rng.choice(["ab", " cd", "e", ".", "\n"]) + str(rng.randint(0, 99)) for _ in range(n)]


@given(st.integers(1, 3000), st.integers(0, 6000), st.sampled_from([0.6, 1.0, 1.37]))
def test_usage_decides_the_length(n_tokens: int, prompt: int, scale: float) -> None:
    tokens = _tokens(random.Random(n_tokens), n_tokens)
    ids, _ = hash_prompt(KEY, tokens, prompt, scale=scale, block_size=64)
    assert len(ids) == math.ceil(prompt / 64)
    assert len(set(ids)) == len(ids)  # chained: no repeats, fillers included


def test_prefix_extension_keeps_ids_and_reuse_changes_nothing() -> None:
    rng = random.Random(4)
    short = _tokens(rng, 1000)
    long = short + _tokens(rng, 700)
    a, state = hash_prompt(KEY, short, 1000, scale=1.0, block_size=64)
    b_fresh, _ = hash_prompt(KEY, long, 1700, scale=1.0, block_size=64)
    b_reused, _ = hash_prompt(
        KEY, long, 1700, scale=1.0, block_size=64, reuse=state, common_tokens=1000
    )
    assert b_fresh == b_reused
    assert b_fresh[: 1000 // 64] == a[: 1000 // 64]  # full blocks of the shared prefix
    assert b_fresh[1000 // 64] != a[1000 // 64]  # the partial block grew: new content
    other, _ = hash_prompt(HashKey(b"x" * 32), short, 1000, scale=1.0, block_size=64)
    assert not set(other) & set(a)


def test_fillers_are_unique_to_their_prefix() -> None:
    rng = random.Random(5)
    base = _tokens(rng, 640)
    x, _ = hash_prompt(KEY, base, 2000, scale=1.0, block_size=64)
    y, _ = hash_prompt(KEY, [*base[:-1], "zz"], 2000, scale=1.0, block_size=64)
    assert x[:9] == y[:9] and x[9] != y[9]
    assert not set(x[10:]) & set(y[10:])  # padding differs once the prefix differs


def test_cdf_inverts_the_quantile_function() -> None:
    knots: fit.Knots = ((0.0, 1.0), (0.1, 5.0), (0.5, 13.0), (0.9, 46.0), (1.0, 159.0))
    for u in (0.0, 0.05, 0.3, 0.5, 0.77, 0.95, 1.0):
        assert fit.cdf(knots, fit.inverse_cdf(knots, u)) == pytest_approx(u)


def test_fit_mean_hits_the_target_and_keeps_the_knots() -> None:
    knots: fit.Knots = ((0.0, 1.0), (0.1, 20.0), (0.5, 162.0), (0.9, 1195.0), (1.0, 24917.0))
    fitted = fit.fit_mean(knots, 647.0)
    assert abs(fit.mean(fitted) - 647.0) < 1.0
    for p, v in knots:
        assert fit.inverse_cdf(fitted, p) == pytest_approx(v)


def test_stratified_draws_cover_every_stratum() -> None:
    u = sorted(fit.stratified(random.Random(1), 500))
    assert all(k / 500 <= x < (k + 1) / 500 for k, x in enumerate(u))


def pytest_approx(value: float) -> object:
    return pytest.approx(value, rel=1e-6, abs=1e-9)
