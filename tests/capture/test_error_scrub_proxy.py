"""Acceptance: provider errors that echo a key or prompt text, through a real proxy, never
put the key (and, with --redact-content, the text) into the decoded trace."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from agentload.traceformat import schema as S
from tests.capture.proxyhelper import running_capture
from tests.capture.responses_upstream import serving
from tests.capture.tracehelper import SECRET, decoded_bytes, wait_rows

pytestmark = pytest.mark.slow

CANARY = "canary-prompt-words"
KINDS = ("json", "text", "stream")


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    with serving() as url:
        yield url


def _errors(upstream: str, out_dir: Path, *extra: str) -> tuple[list[str], bytes]:
    body = {"model": "m", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    with running_capture(upstream, out_dir, *extra) as proxy:
        for kind in KINDS:
            headers = {"x-test-error": kind, "x-test-echo": f"{SECRET} {CANARY}"}
            r = httpx.post(proxy.url + "/v1/chat/completions", json=body, headers=headers)
            assert SECRET in r.text  # the client does get the echo: the upstream sends it
        frame = wait_rows(out_dir, len(KINDS))
    errors = frame.sort(S.T_REQUEST_START_NS)[S.ERROR].to_list()
    assert all(isinstance(e, str) for e in errors), errors
    return errors, b"".join(decoded_bytes(p) for p in out_dir.glob("*.arrow"))


def test_error_column_is_scrubbed(upstream: str, tmp_path: Path) -> None:
    errors, decoded = _errors(upstream, tmp_path)
    assert all(CANARY in e and "[redacted]" in e for e in errors), errors
    assert SECRET.encode() not in decoded and b"sk-agentload" not in decoded


def test_error_column_has_no_content_when_redacting(upstream: str, tmp_path: Path) -> None:
    errors, decoded = _errors(upstream, tmp_path, "--redact-content")
    message = f"Incorrect API key provided: {SECRET} {CANARY}"
    body = f"<html>bad gateway: {SECRET} {CANARY}</html>"
    assert errors == [
        f"invalid_request_error: [redacted, {len(message)} chars]",
        f"response is not JSON: [redacted, {len(body)} bytes]",
        f"invalid_request_error: [redacted, {len(message)} chars]",
    ]
    assert CANARY.encode() not in decoded and b"Incorrect API key" not in decoded
    assert SECRET.encode() not in decoded and b"sk-agentload" not in decoded
