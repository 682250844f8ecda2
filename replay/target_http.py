"""The preflight's HTTP edge: GETs of the target's identity endpoints and one streamed probe.

Everything here only fetches and decodes; `replay.preflight` judges what came back. Request
header values (credentials) are sent, never returned or recorded.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import httpx

from agentload.base.errors import UnfaithfulRunError
from agentload.providers.api import Api
from agentload.providers.errors import error_text
from agentload.providers.response_summary import ResponseSummary, StreamSummary
from agentload.providers.sse import SseParser
from agentload.replay.transport import NO_COMPRESSION, tls_context

CONNECT_TIMEOUT_S = 4.0  # an engine that is down is reported within 5 s
IDENTITY_TIMEOUT_S = 10.0  # GETs of /v1/models, /version, /props, /metrics
MAX_ERROR_CHARS = 300  # of a server's error message quoted in a one-line error


@dataclass(frozen=True)
class Fetched:
    """One GET: status (None: not reachable), decoded JSON (None: not JSON) or text."""

    status: int | None
    payload: object = None
    text: str = ""
    server: str | None = None  # the `Server` response header (not a credential)


@dataclass(frozen=True)
class ProbeReply:
    api: Api
    status: int
    error: str | None = None  # the server's message for a non-200 answer
    streamed: bool = False  # the answer was an SSE stream
    content_events: int = 0  # events that carried output
    summary: ResponseSummary = field(default_factory=ResponseSummary)
    usage_keys: frozenset[str] = frozenset()  # usage fields the stream reported
    elapsed_s: float = 0.0


def client(timeout: float, headers: Mapping[str, str]) -> httpx.Client:
    """A client whose connect fails fast (CONNECT_TIMEOUT_S) and whose reads wait up to the
    run's --timeout; no redirects (a redirect is a wrong --target, not something to follow)."""
    limit = httpx.Timeout(timeout, connect=min(CONNECT_TIMEOUT_S, timeout))
    return httpx.Client(
        timeout=limit,
        headers={**NO_COMPRESSION, **headers},  # probes time streams as the run does
        follow_redirects=False,
        trust_env=False,
        verify=tls_context(),  # the transports' trust store (SSL_CERT_FILE included)
    )


def get(http: httpx.Client, url: str, *, required: bool = False) -> Fetched:
    """GET `url`. A connection failure raises UnfaithfulRunError naming the URL when
    `required` (the first contact), else gives Fetched(None)."""
    # the identity GETs wait less than a generation may, and connect as fast as the rest
    limit = httpx.Timeout(
        min(IDENTITY_TIMEOUT_S, http.timeout.read or IDENTITY_TIMEOUT_S),
        connect=http.timeout.connect,
    )
    try:
        resp = http.get(url, timeout=limit)
    except httpx.HTTPError as err:
        if required:
            raise UnfaithfulRunError(f"preflight: cannot reach {url}: {_reason(err)}") from None
        return Fetched(None)
    try:
        payload: object = resp.json()
    except ValueError:
        payload = None
    return Fetched(resp.status_code, payload, resp.text, resp.headers.get("server"))


def probe(
    http: httpx.Client,
    url: str,
    api: Api,
    body: bytes,
    headers: Mapping[str, str],
    redact: Callable[[str], str],
) -> ProbeReply:
    """POST one streamed request and summarise the answer; `redact` masks the run's
    secrets in the server's messages (a server may echo a wrong key)."""
    start = time.monotonic()
    try:
        # The body is raw bytes, so httpx names no type: vLLM answers 400 ("Only
        # 'application/json' is allowed") to a POST without it.
        sent = {"Content-Type": "application/json", **headers}
        with http.stream("POST", url, content=body, headers=sent) as resp:
            raw = resp.read()
            ctype = resp.headers.get("content-type", "")
            status = resp.status_code
    except httpx.HTTPError as err:
        raise UnfaithfulRunError(f"preflight: POST {url} failed: {_reason(err)}") from None
    elapsed = time.monotonic() - start
    text = raw.decode("utf-8", "replace")
    if status != 200:
        return ProbeReply(api, status, error=redact(server_message(text)), elapsed_s=elapsed)
    if "text/event-stream" not in ctype:
        return ProbeReply(api, status, error=f"answered {ctype or 'no content type'}, not a stream")
    parser, summary = SseParser(), StreamSummary(api)
    events = parser.feed(raw, 0) + parser.close(0)[0]
    content = sum(1 for ev in events if summary.add(ev.event, ev.data))
    return ProbeReply(
        api,
        status,
        error=None if summary.error is None else redact(summary.error),
        streamed=True,
        content_events=content,
        summary=summary.result(),
        usage_keys=frozenset(_flat_keys(summary.usage)),
        elapsed_s=elapsed,
    )


def post_empty(http: httpx.Client, url: str) -> tuple[int | None, str]:
    """POST with no body (cache resets): status (None: unreachable) and the answer text."""
    try:
        resp = http.post(url)
    except httpx.HTTPError as err:
        return None, _reason(err)
    return resp.status_code, resp.text[:MAX_ERROR_CHARS]


def server_message(text: str) -> str:
    """The provider's error message in an error body, else the body's start."""
    try:
        message = error_text(json.loads(text))
    except ValueError:
        message = None
    one_line = " ".join((message or text).split())
    return one_line[:MAX_ERROR_CHARS] or "(empty body)"


def _flat_keys(usage: Mapping[str, object], prefix: str = "") -> list[str]:
    keys = []
    for key, value in usage.items():
        keys.append(prefix + key)
        if isinstance(value, Mapping):
            keys.extend(_flat_keys(value, f"{prefix}{key}."))
    return keys


def _reason(err: httpx.HTTPError) -> str:
    text = str(err) or type(err).__name__
    if isinstance(err, httpx.ConnectTimeout):
        return f"no connection within {CONNECT_TIMEOUT_S:g} s"
    if isinstance(err, httpx.ConnectError):
        return f"connection failed ({text})"
    return text
