"""Metric definitions checked on small frames whose answers were computed by hand.

Every test runs twice: on an eager DataFrame and on a LazyFrame collected at the end.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from agentload.analysis import (
    cache_hit_rate,
    eligible_cache_hit_rate,
    goodput,
    itl_samples,
    last_token_ns,
    parse_slo,
    request_metrics,
    session_metrics,
    theoretical_cache_hit_rate,
    throughput,
    turn_metrics,
    with_eligible,
)
from agentload.base.errors import ConfigError
from agentload.traceformat import io
from agentload.traceformat import schema as s
from tests.analysis import synth
from tests.analysis.frames import MS, SEC, frame, request, row

Apply = Callable[[Callable[[Any], Any], pl.DataFrame], pl.DataFrame]


@pytest.fixture(params=["eager", "lazy"])
def apply(request: pytest.FixtureRequest) -> Apply:
    def run(fn: Callable[[Any], Any], df: pl.DataFrame) -> pl.DataFrame:
        if request.param == "eager":
            out = fn(df)
        else:
            lazy = fn(df.lazy())
            assert isinstance(lazy, pl.LazyFrame)
            out = lazy.collect()
        assert isinstance(out, pl.DataFrame)
        return out

    return run


def test_request_latencies(apply: Apply) -> None:
    df = frame(
        [
            # scheduled 995 ms, sent 1 s, first token 1.25 s, end 2.25 s, 11 tokens
            row(
                "a",
                0,
                **{
                    s.T_SCHEDULED_NS: 995 * MS,
                    s.T_SENT_NS: 1 * SEC,
                    s.T_FIRST_TOKEN_NS: 1250 * MS,
                    s.T_END_NS: 2250 * MS,
                    s.COMPLETION_TOKENS: 11,
                },
            ),
            # a failure: latency metrics null, schedule lag (client side) still counted
            row(
                "b",
                0,
                **{
                    s.T_SCHEDULED_NS: 1 * SEC,
                    s.T_SENT_NS: 1 * SEC + 30 * MS,
                    s.T_FIRST_TOKEN_NS: 1100 * MS,
                    s.T_END_NS: 1200 * MS,
                    s.STATUS: "error",
                    s.ERROR_KIND: "http_5xx",
                },
            ),
            # one output token: no TPOT
            row(
                "c",
                0,
                **{
                    s.T_SENT_NS: 0,
                    s.T_FIRST_TOKEN_NS: 10 * MS,
                    s.T_END_NS: 10 * MS,
                    s.COMPLETION_TOKENS: 1,
                },
            ),
            # warmup: dropped
            row("d", 0, **{s.WARMUP: True, s.T_SENT_NS: 0, s.T_END_NS: 1}),
        ]
    )
    out = apply(request_metrics, df).sort(s.SESSION_ID)
    assert out[s.SESSION_ID].to_list() == ["a", "b", "c"]
    assert out["ttft_ms"].to_list() == [250.0, None, 10.0]
    assert out["ttft_s"].to_list() == [0.25, None, 0.01]
    assert out["tpot_ms"].to_list() == [100.0, None, None]
    assert out["e2e_ms"].to_list() == [1250.0, None, 10.0]
    assert out["e2e_s"].to_list() == [1.25, None, 0.01]
    assert out["schedule_lag_ms"].to_list() == [5.0, 30.0, 0.0]


def _chunks(session: str, offsets_ms: list[int], tokens: list[int] | None) -> dict[str, Any]:
    return row(
        session,
        0,
        **{
            s.T_SENT_NS: 0,
            s.T_FIRST_TOKEN_NS: offsets_ms[0] * MS,
            s.T_END_NS: offsets_ms[-1] * MS,
            s.CHUNK_OFFSETS_NS: [o * MS for o in offsets_ms],
            s.CHUNK_TOKENS: tokens,
            s.COMPLETION_TOKENS: sum(tokens) if tokens else len(offsets_ms),
        },
    )


def test_itl_multi_token_chunks(apply: Apply) -> None:
    df = frame(
        [
            # 1 token at 250 ms, 2 at 270 ms, 3 at 330 ms: gaps 20/2 x2, 60/3 x3
            _chunks("a", [250, 270, 330], [1, 2, 3]),
            # null CHUNK_TOKENS = one token per chunk: gaps 10, 20
            _chunks("b", [0, 10, 30], None),
            # a zero-token chunk (e.g. usage only) is skipped: 20 ms over 2 tokens
            _chunks("c", [0, 5, 20], [1, 0, 2]),
            # a single chunk: no gap
            _chunks("d", [40], [5]),
            # CHUNK_TOKENS of the wrong length is ignored: one token per chunk
            _chunks("e", [0, 4, 10], [1, 2]),
        ]
    )
    samples = apply(itl_samples, df)
    by = {k: sorted(v) for k, v in samples.group_by(s.SESSION_ID).agg("itl_ms").iter_rows()}
    assert by == {
        "a": [10.0, 10.0, 20.0, 20.0, 20.0],
        "b": [10.0, 20.0],
        "c": [10.0, 10.0],
        "e": [4.0, 6.0],
    }
    means = apply(request_metrics, df).sort(s.SESSION_ID)["itl_mean_ms"].to_list()
    assert means == [16.0, 15.0, 10.0, None, 5.0]


def _session_rows() -> list[dict[str, Any]]:
    return [
        # session a: 3 calls; eligible = [0, 100 + 10, 150 + 20]
        request("a", 0, 0.0, 0.5, 1.0, completion=10, prompt=100, cached=0),
        request("a", 1, 2.0, 2.2, 3.0, completion=20, prompt=150, cached=100),
        # streamed final call: tokens at 4.5, 5.0 and 5.5 s; the stream ends at 6.0 s (usage
        # event and end marker after the last token)
        request(
            "a",
            2,
            4.0,
            4.5,
            6.0,
            completion=5,
            prompt=200,
            cached=160,
            final_call=True,
            chunk_offsets_ns=[500 * MS, 1000 * MS, 1500 * MS],
            chunk_tokens=[1, 2, 2],
        ),
        # session b: its final call failed
        request("b", 0, 1.0, 1.1, 2.0, completion=10, prompt=50, cached=10),
        request("b", 1, 3.0, None, None, completion=None, prompt=None, cached=None)
        | {s.FINAL_CALL: True, s.STATUS: "error", s.ERROR_KIND: "timeout"},
    ]


def test_eligible_cache_hit(apply: Apply) -> None:
    df = frame(_session_rows())
    elig = apply(with_eligible, df).sort(s.SESSION_ID, s.CALL_INDEX)["eligible_tokens"]
    assert elig.to_list() == [0, 110, 170, 0, 60]

    def rates(x: Any) -> Any:
        return with_eligible(x).select(cache_hit_rate(), eligible_cache_hit_rate())

    got = apply(rates, df).row(0, named=True)
    # ok rows: cached 0+100+160+10 = 270, prompt 100+150+200+50 = 500, eligible 0+110+170+0
    assert got["cache_hit_rate"] == pytest.approx(270 / 500)
    assert got["eligible_cache_hit_rate"] == pytest.approx(270 / 280)


def test_session_latency_ttfat(apply: Apply) -> None:
    out = apply(session_metrics, frame(_session_rows())).sort(s.SESSION_ID)
    a, b = out.rows(named=True)
    assert a["completed"] and not b["completed"]
    assert a["latency_s"] == pytest.approx(5.5)  # first send 0 -> final call's last token 5.5
    assert a["ttfat_s"] == pytest.approx(4.5)  # first send 0 -> final first token 4.5
    assert a["max_ttft_ms"] == pytest.approx(500.0)
    assert (a["calls"], a["errors"], a["completion_tokens"]) == (3, 0, 35)
    assert a["eligible_cache_hit_rate"] == pytest.approx(260 / 280)
    assert b["latency_s"] is None and b["ttfat_s"] is None and b["errors"] == 1


def test_session_latency_ends_at_last_token(apply: Apply) -> None:
    rows = [
        # streamed: last token = sent 2.0 + last chunk offset 0.75 s = 2.75 s, end 3.5 s
        request("s", 0, 1.0, 1.2, 1.5, chunk_offsets_ns=[200 * MS, 400 * MS]),
        request(
            "s",
            1,
            2.0,
            2.25,
            3.5,
            final_call=True,
            chunk_offsets_ns=[250 * MS, 500 * MS, 750 * MS],
        ),
        # not streamed (no chunk offsets): the response end is the last token
        request("n", 0, 0.0, 1.0, 2.0, final_call=True),
        # an empty chunk list (no token-carrying chunk) also falls back to the end
        request("e", 0, 0.0, None, 0.5, completion=0, final_call=True, chunk_offsets_ns=[]),
    ]
    out = apply(session_metrics, frame(rows)).sort(s.SESSION_ID)
    got = dict(zip(out[s.SESSION_ID].to_list(), out["latency_s"].to_list(), strict=True))
    assert got == {"e": pytest.approx(0.5), "n": pytest.approx(2.0), "s": pytest.approx(1.75)}
    # TTFAT is unchanged: first send 1.0 -> final call's first token 2.25
    assert out.filter(pl.col(s.SESSION_ID) == "s")["ttfat_s"].item() == pytest.approx(1.25)
    # the expression alone, per row
    lt = apply(lambda x: x.select(last_token_ns()), frame(rows))["last_token_ns"].to_list()
    assert lt == [1400 * MS, 2750 * MS, 2 * SEC, SEC // 2]


def test_warmup_session_not_completed(apply: Apply) -> None:
    rows = [
        request("w", 0, 0.0, 0.1, 0.2) | {s.WARMUP: True},
        request("w", 1, 1.0, 1.1, 1.2) | {s.FINAL_CALL: True},
    ]
    out = apply(session_metrics, frame(rows))
    assert out["completed"].to_list() == [False]
    assert out["latency_s"].to_list() == [None]


def test_turn_metrics(apply: Apply) -> None:
    out = apply(turn_metrics, frame(_session_rows()))
    assert out[s.CALL_INDEX].to_list() == [0, 1, 2]
    assert out["requests"].to_list() == [2, 2, 1]
    assert out["errors"].to_list() == [0, 1, 0]
    # call 0 TTFTs: 500 ms and 100 ms; call 1: 200 ms (the failure is excluded)
    assert out["ttft_mean_ms"].to_list() == pytest.approx([300.0, 200.0, 500.0])
    assert out["ttft_p50_ms"].to_list() == pytest.approx([300.0, 200.0, 500.0])


def test_theoretical_cache_hit(apply: Apply) -> None:
    rows = [
        request("a", 0, 0, 1, 2) | {s.EXPECTED_INPUT_TOKENS: 1000, s.EXPECTED_CACHED_TOKENS: 0},
        request("a", 1, 3, 4, 5) | {s.EXPECTED_INPUT_TOKENS: 1500, s.EXPECTED_CACHED_TOKENS: 900},
        request("b", 0, 0, 1, 2),  # no hash_ids in the source: ignored
    ]
    got = apply(lambda x: x.select(theoretical_cache_hit_rate()), frame(rows))
    assert got.item() == pytest.approx(900 / 2500)


def _throughput_rows() -> list[dict[str, Any]]:
    # window: first send 0 s -> last end 100 s; 20% cut at 20 s; last 30 s = (70, 100]
    return [
        request("a", 0, 0.0, 1.0, 10.0, completion=1000, prompt=50, cached=0),  # before cut
        request("b", 0, 5.0, 6.0, 40.0, completion=400, prompt=100, cached=40),
        request("c", 0, 50.0, 51.0, 80.0, completion=300, prompt=100, cached=40),
        request("d", 0, 60.0, 61.0, 90.0, completion=300, prompt=100, cached=40),
        request("e", 0, 70.0, 71.0, 100.0, completion=300, prompt=100, cached=40),
        request("f", 0, 75.0, None, 76.0, completion=None, prompt=None, cached=None)
        | {s.STATUS: "error"},
        request("g", 0, 0.0, 0.1, 200.0) | {s.WARMUP: True},  # warmup: outside the window
    ]


def test_throughput_overall_last30_steady(apply: Apply) -> None:
    got = apply(throughput, frame(_throughput_rows())).row(0, named=True)
    assert got["duration_s"] == pytest.approx(100.0)
    assert got["completion_tps"] == pytest.approx(2300 / 100)
    assert got["prompt_tps"] == pytest.approx(450 / 100)
    assert got["cached_tps"] == pytest.approx(160 / 100)
    assert got["uncached_tps"] == pytest.approx(290 / 100)
    assert got["completion_tps_last30s"] == pytest.approx(900 / 30)
    # steady: points (40, 400), (80, 700), (90, 1000), (100, 1300); means 77.5 and 850
    # sum dt*dC = 28500, sum dt^2 = 2075
    assert got["completion_tps_steady"] == pytest.approx(28500 / 2075)
    # cached: (40, 40), (80, 80), (90, 120), (100, 160): dC = -60, -20, 20, 60, sum dt*dC = 3800
    assert got["cached_tps_steady"] == pytest.approx(3800 / 2075)


def test_steady_state_exact_line(apply: Apply) -> None:
    # 10 requests of 100 tokens ending every 10 s (window 0..100 s): after dropping the
    # first 20 s the cumulative curve is an exact line of slope 10 tokens/s.
    rows = [request(f"s{i}", 0, 0.0, 0.5, 10.0 * (i + 1), completion=100) for i in range(10)]
    # a burst in the first 20% must not move the slope
    rows.append(request("burst", 0, 0.0, 0.5, 5.0, completion=10_000))
    got = apply(throughput, frame(rows)).row(0, named=True)
    assert got["completion_tps_steady"] == pytest.approx(10.0)
    assert got["completion_tps"] == pytest.approx(11_000 / 100)


def test_steady_state_needs_two_points(apply: Apply) -> None:
    rows = [request("a", 0, 0.0, 0.5, 10.0)]
    got = apply(throughput, frame(rows)).row(0, named=True)
    assert got["completion_tps_steady"] is None
    assert got["completion_tps"] == pytest.approx(1.0)


def test_goodput(apply: Apply) -> None:
    rows = [
        # s1: TTFT 100 ms, TPOT (1.1-0.1)/(11-1) = 100 ms, latency 5 s
        request("s1", 0, 0.0, 0.1, 1.1, completion=11),
        request("s1", 1, 3.0, 3.1, 5.0, completion=20, final_call=True),
        # s2: TTFT 900 ms, latency 2 s
        request("s2", 0, 1.0, 1.9, 3.0, completion=30, final_call=True),
        # s3: failed
        request("s3", 0, 1.0, None, None, completion=None) | {s.STATUS: "error"},
    ]
    sessions = apply(session_metrics, frame(rows))

    def good(text: str) -> dict[str, Any]:
        return apply(lambda x: goodput(x, parse_slo(text), 10.0), sessions).row(0, named=True)

    assert good("ttft=500ms") | {} == {
        "sessions": 3,
        "good_sessions": 1,
        "good_fraction": pytest.approx(1 / 3),
        "good_sessions_per_s": pytest.approx(0.1),
        "good_completion_tps": pytest.approx(31 / 10),
    }
    assert good("ttft=1s")["good_sessions"] == 2
    assert good("ttft=1s,session=4")["good_sessions"] == 1  # s1 takes 5 s
    assert good("tpot=99ms")["good_sessions"] == 1  # s1's first call has TPOT 100 ms
    assert good("session=10")["good_completion_tps"] == pytest.approx(61 / 10)


def test_parse_slo() -> None:
    slo = parse_slo("ttft=2s, tpot=50ms,session=2m")
    assert (slo.ttft_s, slo.tpot_s, slo.session_s) == (2.0, 0.05, 120.0)
    assert parse_slo("ttft=1.5").ttft_s == 1.5
    assert parse_slo(None).empty
    for bad in ("ttft", "latency=2s", "ttft=fast", "ttft=0"):
        with pytest.raises(ConfigError, match="--slo"):
            parse_slo(bad)


def test_scan_ipc_matches_eager(tmp_path: Path) -> None:
    """The expressions run lazily on a result file opened with pl.scan_ipc."""
    path = synth.write(tmp_path / "r.arrow", sessions=5, calls=4, error_every=6)
    eager = io.read(path).frame
    lazy = pl.scan_ipc(path)
    for fn in (throughput, session_metrics, turn_metrics, request_metrics):
        want, got = fn(eager), fn(lazy).collect()
        sort = [c for c in (s.SESSION_ID, s.CALL_INDEX) if c in want.columns]
        assert_frame_equal(want.sort(sort) if sort else want, got.sort(sort) if sort else got)
    assert itl_samples(lazy).collect().height == itl_samples(eager).height > 0
