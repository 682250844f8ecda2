"""Fail-open hooks and workload labelling rules."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from mitmproxy import http
from mitmproxy.test.tflow import tflow

from agentload.capture.addon import CaptureAddon
from agentload.capture.flowdata import RawCall
from agentload.capture.sink import Sink
from agentload.capture.workload import label_for, parse_rule
from tests.capture.tracehelper import row_builder


def test_a_failing_hook_is_logged_and_the_flow_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    addon = CaptureAddon()
    addon.sink = Sink(row_builder(), tmp_path, {}, rotate_bytes=1 << 20, rotate_seconds=60)
    caplog.set_level(logging.ERROR, "agentload.capture")
    addon.requestheaders(object())  # type: ignore[arg-type]  # not a flow: the hook breaks
    assert "requestheaders hook failed" in caplog.text


def test_workload_rules() -> None:
    rules = [parse_rule("model:claude-*=coding"), parse_rule("path:/v1/completions=batch")]
    assert label_for(None, "/v1/messages", "claude-sonnet", rules, "default") == "coding"
    assert label_for(None, "/v1/completions", "gpt", rules, "default") == "batch"
    assert label_for(None, "/v1/chat/completions", "gpt", rules, "default") == "default"
    assert label_for("from-header", "/v1/messages", "claude-x", rules, "default") == "from-header"
    with pytest.raises(ValueError, match="expected path:GLOB=LABEL"):
        parse_rule("size:big=x")


def test_a_streamed_request_body_is_recorded(tmp_path: Path) -> None:
    """With stream_large_bodies, mitmproxy sets request.stream = True before the
    requestheaders hook and never stores the body: the addon records it while passing it on."""
    body = json.dumps({"model": "m", "messages": [{"role": "user", "content": "long"}]})
    req = http.Request.make("POST", "http://upstream/v1/chat/completions", body.encode())
    flow = tflow(req=req)
    flow.request.stream = True  # what mitmproxy's body size check does
    flow.request.raw_content = None  # a streamed body is not kept
    addon = CaptureAddon()
    addon.sink = Sink(row_builder(), tmp_path, {}, rotate_bytes=1 << 20, rotate_seconds=60)
    addon.requestheaders(flow)
    stream = flow.request.stream
    assert callable(stream)
    passed = [stream(body[:10].encode()), stream(body[10:].encode()), stream(b"")]
    assert b"".join(passed) == body.encode()  # passed through unchanged
    addon.request(flow)
    raw = flow.metadata["agentload"]
    assert isinstance(raw, RawCall) and raw.request_body == body.encode()
