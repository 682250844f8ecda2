"""Open an HTML file in a real headless Chromium with networking off, over the DevTools
protocol (aiohttp websocket): collect console errors, network attempts, a DOM probe and a
screenshot."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import shutil
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")

# Per chart: does it hold an <svg> with a non-empty box and at least one data element,
# which of its <text> boxes pass the svg's box (drawn 1:1 with its viewBox), how many
# legend entries it has.
PROBE = """
JSON.stringify({
  charts: Array.from(document.querySelectorAll('figure.chart')).map(f => {
    const svg = f.querySelector('svg');
    const box = svg ? svg.getBoundingClientRect() : {width: 0, height: 0};
    const outside = svg ? Array.from(svg.querySelectorAll('text')).filter(t => {
      const r = t.getBoundingClientRect();
      return r.left < box.left - 1 || r.right > box.right + 1 ||
             r.top < box.top - 1 || r.bottom > box.bottom + 1;
    }).map(t => t.textContent) : [];
    return {key: f.dataset.chart, width: box.width, height: box.height,
            data: svg ? svg.querySelectorAll('.data').length : 0,
            outside: outside,
            legend: svg ? svg.querySelectorAll('.legend').length : 0};
  }),
  omitted: Array.from(document.querySelectorAll('[data-omitted]')).map(e => e.textContent),
  notes: Array.from(document.querySelectorAll('#notes li')).map(e => e.textContent),
  scripts: document.querySelectorAll('script').length,
  title: document.title,
})
"""


def find_chromium() -> str:
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    raise AssertionError(
        "Chromium not found (Debian package `chromium`): run `make test`, which installs it"
    )


@dataclass
class PageResult:
    probe: dict[str, Any]
    console_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    screenshot: Path | None = None


class _Cdp:
    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.ids = itertools.count(1)
        self.events: list[dict[str, Any]] = []

    async def call(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        """Send a command (to the browser, or to an attached page `session`) and wait for
        its answer, keeping every event that arrives meanwhile."""
        msg_id = next(self.ids)
        payload: dict[str, Any] = {"id": msg_id, "method": method, "params": params}
        if session is not None:
            payload["sessionId"] = session
        await self.ws.send_json(payload)
        while True:
            msg = await self.ws.receive_json()
            if msg.get("id") == msg_id:
                if "error" in msg:
                    raise AssertionError(f"CDP {method}: {msg['error']}")
                result: dict[str, Any] = msg.get("result", {})
                return result
            self.events.append(msg)

    async def wait_event(self, method: str, timeout: float) -> None:
        if any(e.get("method") == method for e in self.events):
            return
        async with asyncio.timeout(timeout):
            while True:
                msg = await self.ws.receive_json()
                self.events.append(msg)
                if msg.get("method") == method:
                    return


@contextlib.asynccontextmanager
async def _browser(profile: Path) -> AsyncIterator[str]:
    """Start Chromium with networking off; yields the browser's DevTools websocket URL."""
    args = [
        find_chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        "--proxy-server=127.0.0.1:9",
        "--proxy-bypass-list=<-loopback>",
        "--host-resolver-rules=MAP * ~NOTFOUND",
        f"--user-data-dir={profile}",
        "--remote-debugging-port=0",
        "--window-size=1280,900",
        "about:blank",
    ]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        port_file = profile / "DevToolsActivePort"
        async with asyncio.timeout(60):
            while not port_file.exists() or len(port_file.read_text().splitlines()) < 2:
                if proc.poll() is not None:
                    raise AssertionError(f"chromium exited with {proc.returncode}")
                await asyncio.sleep(0.1)
        port, path = port_file.read_text().splitlines()[:2]
        yield f"ws://127.0.0.1:{port}{path}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _errors(events: list[dict[str, Any]]) -> list[str]:
    out = []
    for e in events:
        method, params = e.get("method"), e.get("params", {})
        if method == "Runtime.exceptionThrown":
            out.append(json.dumps(params.get("exceptionDetails", {}))[:500])
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            out.append(json.dumps(params.get("args", []))[:500])
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            out.append(str(params["entry"].get("text")))
    return out


async def open_page(html: Path, screenshot: Path, profile: Path) -> PageResult:
    async with (
        _browser(profile) as browser_ws,
        aiohttp.ClientSession() as http,
        http.ws_connect(browser_ws, max_msg_size=0) as ws,
    ):
        cdp = _Cdp(ws)
        target = await cdp.call("Target.createTarget", url="about:blank")
        attached = await cdp.call(
            "Target.attachToTarget", targetId=target["targetId"], flatten=True
        )
        page = attached["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            await cdp.call(f"{domain}.enable", page)
        await cdp.call("Page.navigate", page, url=html.resolve().as_uri())
        await cdp.wait_event("Page.loadEventFired", timeout=60)
        value = await cdp.call("Runtime.evaluate", page, expression=PROBE, returnByValue=True)
        probe = json.loads(value["result"]["value"])
        shot = await cdp.call(
            "Page.captureScreenshot", page, format="png", captureBeyondViewport=True
        )
        screenshot.write_bytes(base64.b64decode(shot["data"]))
        requests = [
            e["params"]["request"]["url"]
            for e in cdp.events
            if e.get("method") == "Network.requestWillBeSent"
        ]
        return PageResult(probe, _errors(cdp.events), requests, screenshot)
