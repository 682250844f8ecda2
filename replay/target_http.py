"""The preflight's HTTP edge: GETs of the target's identity endpoints and one streamed probe.

Everything here only fetches and decodes; `replay.preflight` judges what came back. Request
header values (credentials) are sent, never returned or recorded. Every exchange is a step
of one `Deadline`: httpx's timeouts are per read, so without it a server that trickles a
byte now and then would hold the preflight for as long as it likes.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

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
PREFLIGHT_TIMEOUTS = 2  # the whole preflight ends within this many --timeout


@dataclass(frozen=True)
class Fetched:
    """One GET: status (None: not reachable), decoded JSON (None: not JSON) or text."""

    status: int | None
    payload: object = None
    text: str = ""
    server: str | None = None  # the `Server` response header (not a credential)
    elapsed_s: float = 0.0  # of the preflight's deadline (Deadline.spent)


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


class Deadline:
    """The preflight's overall deadline: its steps (first contact, identity GETs, probes,
    the cache reset) get `seconds` of wall time together; time between steps (loading the
    source) does not count. When it passes, the step's connections are shut down, which
    wakes a read blocked in httpx, and the step ends in a one-line UnfaithfulRunError naming
    the step and its URL. (A TLS handshake in progress is not cut: its socket is only known
    once the handshake is done.)"""

    def __init__(self, timeout: float, spent: float = 0.0) -> None:
        self.timeout = timeout  # the run's --timeout
        self.seconds = PREFLIGHT_TIMEOUTS * timeout
        self.spent = spent
        self.expired = False
        self._socks: list[socket.socket] = []
        self._lock = threading.Lock()

    def _trace(self, event: str, info: Mapping[str, Any]) -> None:
        """httpx's `trace` request extension: remember every connection's socket."""
        if event in ("connection.connect_tcp.complete", "connection.start_tls.complete"):
            sock = info["return_value"].get_extra_info("socket")
            if isinstance(sock, socket.socket):
                with self._lock:
                    self._socks.append(sock)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._socks:
                # closed by httpx already: its fd is -1, so never another file's
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def error(self, step: str) -> UnfaithfulRunError:
        return UnfaithfulRunError(
            f"preflight: {step}: no complete answer within the preflight's deadline of "
            f"{self.seconds:g} s ({PREFLIGHT_TIMEOUTS} x --timeout {self.timeout:g} s; "
            "the server answers too slowly, or trickles bytes)"
        )

    @contextlib.contextmanager
    def step(self, step: str) -> Iterator[dict[str, Any]]:
        """Run one exchange (yields the request extensions to send); raises the deadline's
        error for it when the deadline passes, before or during the step."""
        left = self.seconds - self.spent
        if left <= 0:
            raise self.error(step)
        timer = threading.Timer(left, self._expire)
        timer.daemon = True
        start = time.monotonic()
        timer.start()
        try:
            yield {"trace": self._trace}
        except httpx.HTTPError:
            if self.expired:
                raise self.error(step) from None
            raise
        finally:
            timer.cancel()
            self.spent += time.monotonic() - start
        if self.expired:  # it passed as the answer ended: the connection is cut all the same
            raise self.error(step)


def client(timeout: float, headers: Mapping[str, str]) -> httpx.Client:
    """A client whose connect fails fast (CONNECT_TIMEOUT_S) and whose reads wait up to the
    run's --timeout; no redirects (a redirect is a wrong --target, not something to follow).

    A fresh connection per request: the preflight sends a handful, seconds apart on a busy
    host, and a server closing an idle keep-alive connection just as the next request goes
    out on it (llama-server closes after 5 s idle, httpx keeps one for 5 s) failed a run as
    "Server disconnected without sending a response"."""
    limit = httpx.Timeout(timeout, connect=min(CONNECT_TIMEOUT_S, timeout))
    return httpx.Client(
        limits=httpx.Limits(max_keepalive_connections=0),
        timeout=limit,
        headers={**NO_COMPRESSION, **headers},  # probes time streams as the run does
        follow_redirects=False,
        trust_env=False,
        verify=tls_context(),  # the transports' trust store (SSL_CERT_FILE included)
    )


def get(http: httpx.Client, url: str, deadline: Deadline, *, required: bool = False) -> Fetched:
    """GET `url`. A connection failure raises UnfaithfulRunError naming the URL when
    `required` (the first contact), else gives Fetched(None); so does the deadline."""
    # the identity GETs wait less than a generation may, and connect as fast as the rest
    limit = httpx.Timeout(
        min(IDENTITY_TIMEOUT_S, http.timeout.read or IDENTITY_TIMEOUT_S),
        connect=http.timeout.connect,
    )
    spent = deadline.spent
    try:
        with deadline.step(f"GET {url}") as extensions:
            resp = http.get(url, timeout=limit, extensions=extensions)
    except httpx.HTTPError as err:
        if required:
            raise UnfaithfulRunError(f"preflight: cannot reach {url}: {_reason(err)}") from None
        return Fetched(None)
    try:
        payload: object = resp.json()
    except ValueError:
        payload = None
    server = resp.headers.get("server")
    return Fetched(resp.status_code, payload, resp.text, server, deadline.spent - spent)


def probe(
    http: httpx.Client,
    url: str,
    api: Api,
    body: bytes,
    headers: Mapping[str, str],
    redact: Callable[[str], str],
    deadline: Deadline,
) -> ProbeReply:
    """POST one streamed request and summarise the answer; `redact` masks the run's
    secrets in the server's messages (a server may echo a wrong key)."""
    start = time.monotonic()
    try:
        # The body is raw bytes, so httpx names no type: vLLM answers 400 ("Only
        # 'application/json' is allowed") to a POST without it.
        sent = {"Content-Type": "application/json", **headers}
        with (
            deadline.step(f"POST {url} (the {api} probe)") as extensions,
            http.stream("POST", url, content=body, headers=sent, extensions=extensions) as resp,
        ):
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


def post_empty(http: httpx.Client, url: str, deadline: Deadline) -> tuple[int | None, str]:
    """POST with no body (cache resets): status (None: unreachable) and the answer text."""
    try:
        with deadline.step(f"POST {url}") as extensions:
            resp = http.post(url, extensions=extensions)
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
