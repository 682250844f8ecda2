"""Capture's other attempts: SDKs and many streams through it, mitmdump with the addon,
--mode regular, HTTP/1.0 and big headers, --redact-content keeping no text, canaries
through the anonymizer, rotated files standing alone, reading a live trace."""

from __future__ import annotations

import asyncio
import random
import socket
import uuid
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai

from agentload.traceformat import schema as S
from agentload.traceformat.content import content_table
from agentload.traceformat.io import read
from tests.adversary.capturerows import CHAT, _exchange
from tests.adversary.harness import Verdict, broke, clean_run, held, run
from tests.adversary.resources import Resources
from tests.adversary.spec import Special, fixed
from tests.capture.proxyhelper import running_capture, running_mitmdump
from tests.capture.tracehelper import contents, decoded_bytes, load, rows_for, session_of

ADDON = Path(__file__).resolve().parents[2] / "capture" / "addon_entry.py"


def parallel_streams(res: Resources) -> Verdict:
    """50 concurrent AsyncOpenAI streams (30 tokens) direct and through capture: the same
    text each, and 50 rows."""
    out = res.work.out("527/cap")

    async def texts(base: str) -> list[str]:
        client = openai.AsyncOpenAI(base_url=base + "/v1", api_key="x", max_retries=0)

        async def one(i: int) -> str:
            stream = await client.completions.create(
                model="agentload-sim",
                prompt=f"p{i}",
                max_tokens=30,
                stream=True,
                extra_body={"ignore_eos": True},
                extra_headers={"X-Session-ID": f"s{i}"},
            )
            return "".join([c.choices[0].text async for c in stream if c.choices])

        return await asyncio.gather(*(one(i) for i in range(50)))

    with running_capture(res.slow_sim(), out) as proxy:
        direct = asyncio.run(texts(res.slow_sim()))
        via = asyncio.run(texts(proxy.url))
    rows = load(out).height
    same = sum(a == b for a, b in zip(direct, via, strict=True))
    return (
        held("50/50 identical, 50 rows")
        if same == 50 and rows == 50
        else broke(f"{same}/50 identical, {rows} rows")
    )


def anthropic_sdk(res: Resources) -> Verdict:
    """The Anthropic SDK, streamed and not, through capture and direct: the same text."""

    def texts(base: str) -> tuple[str, str]:
        client = anthropic.Anthropic(base_url=base, api_key="x", max_retries=0)
        msg = [{"role": "user", "content": "hello"}]
        made = client.messages.create(model="agentload-sim", max_tokens=6, messages=msg)  # type: ignore[arg-type]
        with client.messages.stream(model="agentload-sim", max_tokens=6, messages=msg) as s:  # type: ignore[arg-type]
            streamed = "".join(s.text_stream)
        return made.content[0].text, streamed  # type: ignore[union-attr]

    direct = texts(res.sim())
    via = texts(res.sim_proxy().url)
    return held(f"{direct}") if direct == via else broke(f"direct {direct}, via {via}")


def mitmdump_large(which: str) -> Any:
    """mitmdump -s capture/addon_entry.py with agentload_max_record_mb=1 and streamed
    bodies: a response or request over the record limit passes byte for byte."""

    def check(res: Resources) -> Verdict:
        url, seen = res.upstream()
        out = res.work.out(f"mitm-{which}")
        opts = [
            "-s",
            str(ADDON),
            "--set",
            f"agentload_out={out}",
            "--set",
            "agentload_max_record_mb=1",
        ]
        scenario = "response-10MB" if which == "resp" else "request-10MB"
        tag = uuid.uuid4().hex
        with running_mitmdump(url, *opts) as proxy:
            direct = _exchange(url, "d" + tag, scenario)
            via = _exchange(proxy.url, "p" + tag, scenario)
        if direct != via or seen.get("d" + tag) != seen.get("p" + tag):
            return broke(f"direct {direct[:2]} {len(direct[2])} B, via {via[:2]} {len(via[2])} B")
        return held(f"{len(via[2]):,} B identical")

    return check


def regular_mode(res: Resources) -> Verdict:
    """--mode regular: httpx with proxy= sees what it sees direct (SSE chat, /v1/models)."""
    out = res.work.out("607/cap")
    with running_capture(res.sim(), out, "--mode", "regular") as proxy:
        body = {**CHAT, "model": "agentload-sim", "max_tokens": 4, "ignore_eos": True}

        def outcome(client: httpx.Client) -> tuple[int, int, int]:
            chat = client.post(res.sim() + "/v1/chat/completions", json=body)
            models = client.get(res.sim() + "/v1/models")
            return chat.status_code, len(chat.json()["choices"]), models.status_code

        with httpx.Client(timeout=30) as direct, httpx.Client(proxy=proxy.url, timeout=30) as via:
            a, b = outcome(direct), outcome(via)
    return held(f"{a}") if a == b else broke(f"direct {a}, via {b}")


def http10(res: Resources) -> Verdict:
    """An HTTP/1.0 client streaming SSE: the same body direct and through capture."""

    def fetch(base: str) -> bytes:
        host, port = base.removeprefix("http://").split(":")
        body = b'{"model": "agentload-sim", "prompt": "hi", "max_tokens": 5, "stream": true}'
        req = (
            b"POST /v1/completions HTTP/1.0\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
        )
        with socket.create_connection((host, int(port)), timeout=20) as s:
            s.sendall(req)
            data = b""
            while chunk := s.recv(65536):
                data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        return head.split(b"\r\n")[0][:12] + b" " + str(rest.count(b"data:")).encode()

    a, b = fetch(res.sim()), fetch(res.sim_proxy().url)
    return held(a.decode()) if a == b else broke(f"direct {a!r}, via {b!r}")


def big_header(res: Resources) -> Verdict:
    """A 20 KB request header: the same outcome direct and through capture."""
    head = {"X-Big": "a" * 20_000}

    def outcome(base: str) -> str:
        try:
            return str(
                httpx.post(
                    base + "/v1/chat/completions", json=CHAT, headers=head, timeout=20
                ).status_code
            )
        except httpx.HTTPError as exc:
            return type(exc).__name__

    a, b = outcome(res.upstream()[0]), outcome(res.proxy(False).url)
    return held(a) if a == b else broke(f"direct {a}, via {b}")


def redact_no_text(res: Resources) -> Verdict:
    """--redact-content: no content text stored, errors only in their redacted form."""
    proxy = res.proxy(True)
    sid = uuid.uuid4().hex
    scenarios = [
        "json-plain",
        "sse-plain",
        "err401-json",
        "err401-html",
        "sse-error-event",
        "nonjson-200",
    ]
    for sc in scenarios:
        body = {
            **CHAT,
            "stream": sc.startswith("sse"),
            "messages": [{"role": "user", "content": "CANARYPROMPTTEXT please"}],
        }
        httpx.post(
            proxy.url + "/v1/chat/completions",
            json=body,
            timeout=30,
            headers={"X-Scenario": sc, "X-Session-ID": sid},
        )
    assert proxy.out_dir is not None
    rows = rows_for(proxy.out_dir, session_of(sid), len(scenarios), timeout=20)
    texts = [t for t in contents(proxy.out_dir).values() if t is not None]
    marks = (b"CANARYPROMPTTEXT", b"CANARY401KEY", b"CANARY401HTML")
    leaked = [
        p.name for p in proxy.out_dir.glob("*.arrow") if any(m in decoded_bytes(p) for m in marks)
    ]
    if texts or leaked:
        return broke(f"{len(texts)} content texts stored; canaries in {leaked}")
    errors = sorted({str(e)[:40] for e in rows.get_column(S.ERROR).to_list() if e})
    return held(f"{rows.height} rows, no text; errors {errors}")


def errtype_echo(res: Resources) -> Verdict:
    """Documented: a provider error type that looks like an identifier is kept; its
    message is not."""
    proxy = res.proxy(True)
    sid = uuid.uuid4().hex
    httpx.post(
        proxy.url + "/v1/chat/completions",
        json=CHAT,
        timeout=30,
        headers={"X-Scenario": "errtype-echo", "X-Session-ID": sid},
    )
    assert proxy.out_dir is not None
    row = rows_for(proxy.out_dir, session_of(sid), 1, timeout=20)
    error = str(row.get_column(S.ERROR)[0])
    return held(error) if "[redacted" in error else broke(f"error stored as {error!r}")


def secret_headers(res: Resources) -> Verdict:
    """Authorization, x-api-key and ?api-key= never reach a trace; the session id is hashed."""
    proxy = res.proxy(False)
    sid = "CANARYSESSION" + uuid.uuid4().hex
    head = {
        "Authorization": "Bearer sk-proj-CANARYAUTH0123456789abcdef",
        "x-api-key": "sk-ant-api03-CANARYXAPI0123456789",
        "X-Session-ID": sid,
    }
    httpx.post(
        proxy.url + "/v1/chat/completions?api-key=CANARYQUERYKEY",
        json=CHAT,
        headers=head,
        timeout=30,
    )
    assert proxy.out_dir is not None
    rows_for(proxy.out_dir, session_of(sid), 1, timeout=20)
    leaked = [
        p.name
        for p in proxy.out_dir.glob("*.arrow")
        if any(
            c in decoded_bytes(p)
            for c in (b"CANARYAUTH", b"CANARYXAPI", b"CANARYQUERYKEY", b"CANARYSESSION")
        )
    ]
    return broke(f"in {leaked}") if leaked else held("none on disk")


def live_read(res: Resources) -> Verdict:
    """inspect and profile derive on a trace file the capture is appending to."""
    proxy = res.proxy(False)
    assert proxy.out_dir is not None
    failures = []
    for i in range(6):
        httpx.post(
            proxy.url + "/v1/chat/completions",
            json=CHAT,
            timeout=30,
            headers={"X-Session-ID": f"live{i}"},
        )
        live = sorted(proxy.out_dir.glob("trace-*.arrow"))[-1]
        for args in (
            ["inspect", str(live)],
            ["profile", "derive", str(live), "--out", f"out/609/d{i}"],
        ):
            o = run(res.work, args)
            if o.rc != 0 or o.crashed:
                failures.append(o.brief())
    return broke(f"{failures[:3]}") if failures else held("12 reads while written")


def _noise(seed: int, size: int) -> str:
    """Text zstd cannot shrink much (so 25 turns really pass --rotate-mb 1)."""
    rng = random.Random(seed)
    return " ".join(rng.choice(WORDS) + str(rng.randrange(10**6)) for _ in range(size // 12))


WORDS = ("alpha", "bravo", "delta", "gamma", "kappa", "sigma", "omega", "theta")


def rotation_self_contained(res: Resources) -> Verdict:
    """One 25-turn session, 120 KB per turn, --rotate-mb 1: every file resolves every
    content id its rows reference."""
    out = res.work.out("626/cap")
    with running_capture(res.sim(), out, "--rotate-mb", "1") as proxy:
        messages: list[dict[str, str]] = []
        for turn in range(25):
            messages.append({"role": "user", "content": f"turn {turn} " + _noise(turn, 120_000)})
            r = httpx.post(
                proxy.url + "/v1/chat/completions",
                timeout=60,
                json={"model": "agentload-sim", "max_tokens": 4, "messages": messages},
                headers={"X-Session-ID": "rot"},
            )
            if r.status_code != 200:
                return broke(f"turn {turn}: HTTP {r.status_code} {r.text[:100]}")
            messages.append({"role": "assistant", "content": f"done {turn}"})
    missing, rows = 0, 0
    files = sorted(out.glob("trace-*.arrow"))
    for path in files:
        frame = read(path).frame
        parts = content_table(frame)
        rows += frame.height
        for ids, resp in zip(
            frame[S.REQUEST_CONTENT_IDS].to_list(),
            frame[S.RESPONSE_CONTENT_ID].to_list(),
            strict=True,
        ):
            missing += sum(parts.get(i) is None for i in [*(ids or []), resp] if i)
    if len(files) < 2 or rows != 25 or missing:
        return broke(f"{len(files)} files, {rows} rows, {missing} unresolved ids")
    return held(f"{len(files)} files, 25 rows, every id resolved")


def canaries(res: Resources) -> Verdict:
    """Unique canaries in every field an agent fills (system, user, assistant, tool output,
    tool definition, a file path, the session header), captured under a folder and file
    named after canaries, then `profile derive`: no canary in the profile."""
    tag = uuid.uuid4().hex[:8].upper()
    names = ["SYS", "USER", "ASSIST", "TOOLOUT", "TOOLDEF", "PATH", "SESSION"]
    marks = {n: f"CANARY{n}{tag}" for n in names}
    out = res.work.out(f"538/CANARYDIR-{tag}")
    tool = {
        "type": "function",
        "function": {
            "name": "read_file",
            "description": marks["TOOLDEF"],
            "parameters": {"type": "object", "properties": {}},
        },
    }
    messages = [
        {"role": "system", "content": f"you are {marks['SYS']}"},
        {"role": "user", "content": f"open /home/{marks['PATH']}/notes.txt for {marks['USER']}"},
        {"role": "assistant", "content": f"sure {marks['ASSIST']}"},
        {"role": "user", "content": f"tool said {marks['TOOLOUT']}"},
    ]
    with running_capture(res.sim(), out) as proxy:
        for turn in range(2, 5):
            httpx.post(
                proxy.url + "/v1/chat/completions",
                timeout=30,
                json={
                    "model": "agentload-sim",
                    "max_tokens": 4,
                    "tools": [tool],
                    "messages": messages[:turn],
                },
                headers={"X-Session-ID": marks["SESSION"]},
            )
    traces = sorted(out.glob("trace-*.arrow"))
    for i, path in enumerate(traces):
        path.rename(out / f"CANARYFILE-{tag}-{i}.arrow")
    prof = res.work.out("538/profiles")
    o = run(
        res.work, ["profile", "derive", *map(str, sorted(out.glob("*.arrow"))), "--out", str(prof)]
    )
    if o.rc != 0:
        return broke(o.brief())
    data = b"".join(decoded_bytes(p) for p in prof.glob("*.arrow"))
    found = [m for m in marks.values() if m.encode() in data] + (
        ["tag"] if tag.encode() in data else []
    )
    return (
        broke(f"in the profile: {found}")
        if found
        else held(f"{len(marks)} canaries, none in the profile")
    )


SPECIALS: tuple[Special, ...] = (
    Special(
        "anonymizer-canaries",
        fixed(canaries),
        "7 canaries in 3 calls (one per field kind) instead of 132",
    ),
    Special(
        "capture-50-parallel-streams",
        fixed(parallel_streams),
        "the run's slow sim (40 ms per token) instead of 20 ms",
        True,
    ),
    Special("capture-anthropic-sdk", fixed(anthropic_sdk)),
    Special(
        r"capture-mitmdump:resp-5MB-over-max-record-1MB",
        fixed(mitmdump_large("resp")),
        "a 10 MB response (the fake upstream's) instead of 5 MB; stream_large_bodies=1 (the "
        "test helper's) instead of 100k",
    ),
    Special(
        r"capture-mitmdump:req-3MB-streamed-large-body",
        fixed(mitmdump_large("req")),
        "a 10 MB request (the fake upstream's) instead of 3 MB; stream_large_bodies=1 (the "
        "test helper's) instead of 100k",
    ),
    Special(
        "capture-regular-mode",
        fixed(regular_mode),
        "the sim as the plain-http upstream; its non-streamed chat",
    ),
    Special("capture-http10-client", fixed(http10), "a raw socket instead of curl --http1.0"),
    Special("capture-20KB-header", fixed(big_header)),
    Special(
        "redact-content-no-text",
        fixed(redact_no_text),
        "6 calls of the listed kinds instead of 45",
    ),
    Special("redact-content-error-type-echo", fixed(errtype_echo)),
    Special("capture-secret-headers", fixed(secret_headers)),
    Special("read-live-trace-while-writing", fixed(live_read), "6 rounds instead of 12"),
    Special("capture-rotation-self-contained", fixed(rotation_self_contained), alone=True),
)
_ = clean_run
