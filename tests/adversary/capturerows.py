"""Capture rows: transparency (direct vs through the proxy, plain and --redact-content),
upstream faults, secrets that must never reach a trace, and capture's one-off attempts."""

from __future__ import annotations

import contextlib
import gzip
import json
import subprocess
import threading
import time
import uuid
from typing import Any

import httpx

from tests.adversary import capture_load
from tests.adversary.catalogue_rows import Row
from tests.adversary.harness import (
    AGENTLOAD,
    SIGTERM,
    Outcome,
    Verdict,
    both,
    broke,
    clean_error,
    held,
    run,
)
from tests.adversary.resources import Resources
from tests.adversary.spec import Scenario, Special, fixed
from tests.capture import rawupstream
from tests.capture.proxyhelper import running_capture
from tests.capture.tracehelper import decoded_bytes, load, rows_for, session_of

CHAT = {"model": "m", "messages": [{"role": "user", "content": "hello"}]}
TOOL_SECRETS = {
    "model": "m",
    "messages": [
        {"role": "user", "content": "log in"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {
                        "name": "login",
                        "arguments": json.dumps(
                            {"api_key": "CANARYTOOLARG987", "password": "CANARYTOOLPW"}
                        ),
                    },
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "ok"},
    ],
}


def _request(scenario: str) -> dict[str, Any]:
    """httpx.request keyword arguments for a transparency scenario."""
    path, method = "/v1/chat/completions", "POST"
    body: Any = {**CHAT, "stream": scenario.startswith(("sse", "anthropic"))}
    headers = {"X-Scenario": scenario}
    content: Any = None
    if scenario == "anthropic-sse":
        path, body = "/v1/messages", {**CHAT, "max_tokens": 5, "stream": True}
    elif scenario == "request-gzip":
        content, headers["Content-Encoding"] = (
            gzip.compress(json.dumps(body).encode(), mtime=0),
            "gzip",
        )
    elif scenario == "request-10MB":
        body = {**CHAT, "messages": [{"role": "user", "content": "y" * (10 << 20)}]}
    elif scenario == "nonjson-request":
        content = b"this is not json at all"
    elif scenario == "get-models":
        path, method = "/v1/models", "GET"
    elif scenario == "post-embeddings":
        path, body = "/v1/embeddings", {"model": "m", "input": "hello"}
    elif scenario == "random-path":
        path = "/foo/bar?x=1&CANARYQS=1"
    elif scenario == "get-chat":
        method = "GET"
    elif scenario == "query-key":
        path += "?api-key=CANARYQUERYKEY"
    elif scenario == "expect-100":
        headers["Expect"] = "100-continue"
    elif scenario == "tool-args-secrets":
        body = TOOL_SECRETS
    if scenario == "chunked-request":
        data = json.dumps(body).encode()
        content = iter([data[:10], data[10:]])  # an iterator: httpx sends it chunked
    elif content is None and method == "POST":
        content = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    return {"method": method, "url": path, "headers": headers, "content": content}


def _exchange(base: str, tag: str, scenario: str) -> tuple[int, str, bytes]:
    req = _request(scenario)
    req["headers"] = {**req["headers"], "X-Attempt": tag}
    with httpx.Client(base_url=base, timeout=60) as client, client.stream(**req) as r:
        raw = b"".join(r.iter_raw())
        return r.status_code, r.headers.get("content-encoding", ""), raw


def transparent(scenario: str, redact: bool) -> Scenario:
    """Direct and through capture: same status, encoding and body bytes; the upstream saw
    the same request body (its digest)."""

    def check(res: Resources) -> Verdict:
        url, seen = res.upstream()
        proxy = res.proxy(redact)
        tag = uuid.uuid4().hex
        direct = _exchange(url, "d" + tag, scenario)
        via = _exchange(proxy.url, "p" + tag, scenario)
        if direct != via:
            return broke(f"direct {direct[:2]} {len(direct[2])} B, via {via[:2]} {len(via[2])} B")
        if seen.get("d" + tag) != seen.get("p" + tag):
            return broke("the upstream saw a different request body")
        return held(f"{direct[0]}, {len(direct[2]):,} B identical")

    return check


def keepalive(redact: bool) -> Scenario:
    def check(res: Resources) -> Verdict:
        url, _ = res.upstream()
        want = _exchange(url, "k", "json-plain")
        with httpx.Client(base_url=res.proxy(redact).url, timeout=30) as client:
            got = [client.post("/v1/chat/completions", json=CHAT) for _ in range(20)]
        bad = [r.status_code for r in got if r.status_code != 200 or r.content != want[2]]
        return broke(f"{len(bad)} of 20 differ") if bad else held("20 identical on one connection")

    return check


def _fault_outcome(base: str, fault: str, stream: bool) -> str:
    headers = {} if fault == "None" else {"X-Sim-Fault": fault}
    body = {"model": "agentload-sim", "prompt": "hello", "max_tokens": 8, "stream": stream}
    try:
        with httpx.stream(
            "POST", base + "/v1/completions", json=body, headers=headers, timeout=4
        ) as r:
            data = b"".join(r.iter_raw())
            return f"{r.status_code} {r.headers.get('content-type')} {data.count(b'data:')} events"
    except httpx.HTTPError as exc:
        return type(exc).__name__


def fault(fault_name: str, stream: bool) -> Scenario:
    """The sim's faults: the client sees through capture what it sees directly."""

    def check(res: Resources) -> Verdict:
        direct = _fault_outcome(res.sim(), fault_name, stream)
        via = _fault_outcome(res.sim_proxy().url, fault_name, stream)
        return held(direct) if direct == via else broke(f"direct {direct!r}, via {via!r}")

    return check


def _tool_output(text: str) -> dict[str, Any]:
    msgs = [
        *TOOL_SECRETS["messages"][:2],
        {"role": "tool", "tool_call_id": "call_1", "content": text},
    ]
    return {**TOOL_SECRETS, "messages": msgs}


def secrets(body: dict[str, Any], *canaries: str) -> Scenario:
    """A call carrying `canaries` where secrets hide (`body`) through a capture: none of
    them reaches a trace file."""

    def check(res: Resources) -> Verdict:
        proxy = res.proxy(False)
        sid = uuid.uuid4().hex
        httpx.post(
            proxy.url + "/v1/chat/completions", json=body, timeout=30, headers={"X-Session-ID": sid}
        )
        assert proxy.out_dir is not None
        rows_for(proxy.out_dir, session_of(sid), 1, timeout=20)
        found = [
            c
            for c in canaries
            for p in proxy.out_dir.glob("*.arrow")
            if c.encode() in decoded_bytes(p)
        ]
        return broke(f"on disk: {sorted(set(found))}") if found else held("masked")

    return check


BODY_KEYS = {
    **CHAT,
    "api_key": "CANARYBODYKEY12345",
    "metadata": {"password": "CANARYPW123"},
    "messages": [{"role": "user", "content": "my key is sk-proj-CANARYTEXTKEY0123456789abcdef"}],
}
AWS_SECRET = _tool_output("aws_secret_access_key=CANARYAWSwJalrXUtnFEMI/K7MDENG/bPxRfiCY")
OTHER_CANARIES = ("CANARYGHTOKEN", "Q0FOQVJZQkFTSUM6", "CANARYAUTHTOKEN99", "CANARYPRIVATEKEY77")
OTHER_SHAPES = _tool_output(
    "token ghp_CANARYGHTOKEN0123456789abcdefABCDEF0123\n"
    "Authorization: Basic Q0FOQVJZQkFTSUM6cGFzc3dvcmQxMjM=\n"
    "auth_token=CANARYAUTHTOKEN99\nprivate_key=CANARYPRIVATEKEY77"
)


def path_model_workload(redact: bool) -> Scenario:
    """H6: keys in the URL path, the model and the workload header are masked."""
    path_key, model_key = (
        "sk-proj-CANARYPATHKEY0123456789abcdef",
        "sk-proj-CANARYMODELKEY0123456789abcdef",
    )
    wl = "Bearer CANARYWLBEARER0123456789abcdef"

    def check(res: Resources) -> Verdict:
        proxy = res.proxy(redact)
        sid = uuid.uuid4().hex
        head = {"X-Session-ID": sid}
        with httpx.Client(base_url=proxy.url, timeout=30) as c:
            c.post(
                f"/{path_key}/v1/chat/completions", json={**CHAT, "model": model_key}, headers=head
            )
            c.post("/v1/chat/completions", json=CHAT, headers={**head, "X-Agentload-Workload": wl})
        assert proxy.out_dir is not None
        rows_for(proxy.out_dir, session_of(sid), 2, timeout=20)
        leaks = [
            k
            for k in ("CANARYPATHKEY", "CANARYMODELKEY", "CANARYWLBEARER")
            for p in proxy.out_dir.glob("*.arrow")
            if k.encode() in decoded_bytes(p)
        ]
        return broke(f"on disk: {sorted(set(leaks))}") if leaks else held("masked")

    return check


def mitmproxy_errors(res: Resources) -> Verdict:
    """H8: under --redact-content, mitmproxy's messages quoting upstream bytes (a bad chunk
    header, header line, status line) keep none of those bytes."""
    checks = []
    for mode in ("badchunk", "badheader", "badstatus"):
        with rawupstream.serving(mode) as up:
            out = res.work.out(f"43/{mode}")
            with (
                running_capture(up, out, "--redact-content") as proxy,
                contextlib.suppress(httpx.HTTPError),
            ):
                httpx.post(proxy.url + "/v1/chat/completions", json=CHAT, timeout=10)
            data = b"".join(decoded_bytes(p) for p in out.glob("*.arrow"))
            checks.append((mode, load(out).height, b"SECRET" in data))
    bad = [c for c in checks if c[1] == 0 or c[2]]
    return broke(f"(mode, rows, leaked): {bad}") if bad else held(f"{checks}")


def unreachable_upstream(res: Resources) -> Verdict:
    """H10: nothing listens upstream: the client sees a failure and the call is recorded."""
    out = res.work.out("119/cap")
    with running_capture("http://127.0.0.1:9", out) as proxy:
        try:
            status = str(
                httpx.post(proxy.url + "/v1/chat/completions", json=CHAT, timeout=10).status_code
            )
        except httpx.HTTPError as exc:
            status = type(exc).__name__
    frame = load(out)
    if status == "200" or frame.height != 1:
        return broke(f"client saw {status}, {frame.height} rows")
    return held(f"client saw {status}; 1 row: {frame.get_column('error')[0]}")


def started_or_refused(res: Resources, args: list[str]) -> Verdict:
    """A capture that may refuse its options (one clean line) or start (fail-open) and must
    then stop cleanly on SIGTERM."""
    proc = subprocess.Popen(
        [AGENTLOAD, *args],
        cwd=res.work.root,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    lines: list[str] = []
    listening = threading.Event()

    def drain() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if "listening on" in line:
                listening.set()

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    deadline = time.monotonic() + 180
    while not listening.is_set() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    if listening.is_set():
        proc.send_signal(SIGTERM)
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()
        return broke("did not stop within 60 s of SIGTERM")
    reader.join(5)
    said = "".join(lines)
    if not listening.is_set():
        return clean_error(Outcome(tuple(args), proc.returncode, "", said, 0.0))
    if proc.returncode not in (0, 130) or "Traceback" in said:
        return broke(f"exit {proc.returncode}: {said[-200:]}")
    return held(f"started, stopped cleanly (exit {proc.returncode})")


def upstream_forms(upstream: str) -> Scenario:
    """An upstream with a path (now supported) or with user:password in it: a clean refusal,
    or a proxy that starts, and stops cleanly on SIGTERM."""

    def check(res: Resources) -> Verdict:
        out = f"out/cx-{uuid.uuid4().hex}"
        args = ["capture", "--upstream", upstream, "--listen", "127.0.0.1:0", "--out", out]
        return started_or_refused(res, args)

    return check


def readonly_out(res: Resources) -> Verdict:
    """`capture --out` on a read-only tmpfs: refused in one line, or started (capture is
    fail-open: write errors are logged and counted, traffic is never disturbed)."""
    args = [
        "capture",
        "--upstream",
        res.sim(),
        "--listen",
        "127.0.0.1:0",
        "--out",
        f"{res.readonly_dir()}/cap443",
    ]
    return started_or_refused(res, args)


def listen_in_use(res: Resources) -> Verdict:
    port = res.proxy(False).url.rsplit(":", 1)[1]
    args = [
        "capture",
        "--upstream",
        res.upstream()[0],
        "--listen",
        f"127.0.0.1:{port}",
        "--out",
        "out/482/cap",
    ]
    return clean_error(run(res.work, args, timeout=120))


def each_mode(make: Any) -> Scenario:
    return lambda res: both(lambda: make(False)(res), lambda: make(True)(res))


def _trans(row: Row, m: Any) -> Scenario:
    return transparent(m[1], m[2] == "red")


SPECIALS: tuple[Special, ...] = (
    Special(r"capture-transparent:(chunked-request):(fake|red)", _trans),
    Special(r"capture-transparent:([\w-]+):(fake|red)", _trans),
    Special(r"capture-keepalive-20:(fake|red)", lambda row, m: keepalive(m[1] == "red")),
    Special(
        r"capture-fault:([\w-]+):stream=(True|False)", lambda row, m: fault(m[1], m[2] == "True")
    ),
    Special(
        "capture-secret-tool-arguments",
        fixed(secrets(TOOL_SECRETS, "CANARYTOOLARG987", "CANARYTOOLPW")),
    ),
    Special(
        "capture-secret-aws-secret-key",
        fixed(secrets(AWS_SECRET, "CANARYAWSwJalrXUtnFEMI")),
    ),
    Special("capture-secret-in-path-model-workload-columns", fixed(each_mode(path_model_workload))),
    Special(
        "capture-secret-body-keys",
        fixed(secrets(BODY_KEYS, "CANARYBODYKEY12345", "CANARYTEXTKEY", "CANARYPW123")),
    ),
    Special(
        r"capture-secret-other-shapes \(informational\)",
        fixed(secrets(OTHER_SHAPES, *OTHER_CANARIES)),
    ),
    Special("redact-content-mitmproxy-error-quotes-body", fixed(mitmproxy_errors)),
    Special("capture-upstream-unreachable", fixed(unreachable_upstream)),
    Special(
        "capture-upstream-with-path",
        fixed(upstream_forms("http://127.0.0.1:9/api")),
        "a local URL with a path instead of https://openrouter.ai/api (no network here)",
    ),
    Special("capture-upstream-with-userinfo", fixed(upstream_forms("http://user:pw@127.0.0.1:9"))),
    Special("capture-listen-port-in-use", fixed(listen_in_use)),
    Special("readonly-out:capture-out", fixed(readonly_out)),
    *capture_load.SPECIALS,
)
