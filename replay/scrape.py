"""Poll the target's Prometheus `/metrics` once a second and keep the interesting samples.

Engines name things differently (vLLM `vllm:kv_cache_usage_perc`, SGLang
`sglang:token_usage`, llama.cpp `llamacpp:kv_cache_usage_ratio`, the sim's own names), so we
keep every sample whose name speaks of KV/cache usage, running/waiting/queued requests or
prefix-cache hits and queries. Runs in a thread with its own HTTP client so a slow
`/metrics` never delays a send.
"""

from __future__ import annotations

import re
import threading
from time import monotonic_ns

import httpx

from agentload.replay.transport import tls_context

INTERESTING = re.compile(
    r"(kv|cache|running|waiting|queue|pending|processing|deferred|token_usage|prefix)",
    re.IGNORECASE,
)
# name{labels} value [timestamp]
_LINE = re.compile(r"^([A-Za-z_:][A-Za-z0-9_:]*)(\{[^}]*\})?\s+(\S+)")
_LABEL = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"')
PERIOD_S = 1.0


def parse_prometheus(text: str, t_ns: int) -> list[dict[str, object]]:
    """Samples of the interesting metrics in a Prometheus text exposition."""
    out: list[dict[str, object]] = []
    for line in text.splitlines():
        if not line or line[0] == "#":
            continue
        m = _LINE.match(line)
        if m is None or not INTERESTING.search(m.group(1)):
            continue
        if m.group(1).endswith(("_bucket", "_created")):
            continue  # histogram buckets and creation stamps are noise here
        try:
            value = float(m.group(3))
        except ValueError:
            continue
        labels = dict(_LABEL.findall(m.group(2) or ""))
        out.append({"t_ns": t_ns, "name": m.group(1), "labels": labels, "value": value})
    return out


class Scraper:
    def __init__(
        self, target: str, period_s: float = PERIOD_S, headers: dict[str, str] | None = None
    ) -> None:
        self._url = target.rstrip("/") + "/metrics"
        self._headers = headers or {}
        self._period = period_s
        self._samples: list[dict[str, object]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="metrics-scraper", daemon=True)
        self.failures = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def samples(self) -> list[dict[str, object]]:
        return list(self._samples)

    def _loop(self) -> None:
        with httpx.Client(timeout=2.0, headers=self._headers, verify=tls_context()) as client:
            while not self._stop.is_set():
                started = monotonic_ns()
                try:
                    resp = client.get(self._url)
                    if resp.status_code == 200:
                        self._samples.extend(parse_prometheus(resp.text, started))
                    else:
                        self.failures += 1
                except httpx.HTTPError:
                    self.failures += 1
                elapsed = (monotonic_ns() - started) / 1e9
                self._stop.wait(max(self._period - elapsed, 0.0))
