"""`profile fetch applied-compute`: the three public Applied Compute workload files.

URLs are pinned to a commit of github.com/Applied-Compute/trie. sha256 pins: a digest in
`PUBLISHED_SHA256` is checked on every download; for a file without one (none could be
computed where this was written, offline) the first download's digest is recorded in
`<cache>/pins.json` and every later download or cache hit must match it (trust on first
use, reported with a warning). A mismatch is always a hard error and the file is not kept.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import httpx
import platformdirs

from agentload.base.errors import AgentloadError, ConfigError, FormatError
from agentload.traceformat.foreign.trie import read_trie

TRIE_COMMIT: Final = "2067a9828c73af8d45b9a945beed609bf51a3aa6"
DEFAULT_BASE_URL: Final = (
    f"https://raw.githubusercontent.com/Applied-Compute/trie/{TRIE_COMMIT}/workloads"
)
FILES: Final = ("agentic_coding_8k.jsonl", "code_qa_8k.jsonl", "office_work_8k.jsonl")
# Published digests (hex sha256) checked on every fetch; None = not known yet: trust on
# first use (see module doc). Fill these in once computed from the pinned commit.
PUBLISHED_SHA256: Final[dict[str, str | None]] = dict.fromkeys(FILES)
DATASETS: Final = ("applied-compute",)
PINS_FILE: Final = "pins.json"


class FetchError(AgentloadError):
    """A download failed or its sha256 did not match the pin."""


@dataclass(frozen=True)
class FetchConfig:
    dataset: str = "applied-compute"
    base_url: str = DEFAULT_BASE_URL
    cache_dir: Path | None = None
    refresh: bool = False
    timeout_s: float = 60.0

    def __post_init__(self) -> None:
        if self.dataset not in DATASETS:
            raise ConfigError(
                f"unknown dataset {self.dataset!r}; choose one of: {', '.join(DATASETS)}"
            )
        if not self.base_url.startswith(("http://", "https://")):
            raise ConfigError(f"--base-url: must be an http(s) URL, got {self.base_url!r}")

    def directory(self) -> Path:
        base = self.cache_dir or Path(platformdirs.user_cache_dir("agentload"))
        return base / self.dataset


@dataclass(frozen=True)
class Fetched:
    name: str
    path: Path
    sha256: str
    downloaded: bool
    pinned_now: bool  # trust on first use: this run recorded the pin


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB pieces."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _load_pins(directory: Path) -> dict[str, str]:
    path = directory / PINS_FILE
    if not path.exists():
        return {}
    try:
        pins = json.loads(path.read_text())
    except ValueError:
        raise FetchError(f"{path}: not valid JSON; delete it to re-pin") from None
    return {str(k): str(v) for k, v in pins.items()}


def _save_pins(directory: Path, pins: dict[str, str]) -> None:
    (directory / PINS_FILE).write_text(json.dumps(pins, indent=1, sort_keys=True) + "\n")


def _download(client: httpx.Client, url: str, directory: Path) -> Path:
    fd, tmp = tempfile.mkstemp(prefix=".download.", dir=directory)
    try:
        with os.fdopen(fd, "wb") as out, client.stream("GET", url) as response:
            if response.status_code != 200:
                raise FetchError(f"{url}: HTTP {response.status_code}")
            for chunk in response.iter_bytes():
                out.write(chunk)
    except httpx.HTTPError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise FetchError(f"{url}: download failed: {exc}") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp)


def _check_trie(path: Path, url: str) -> None:
    try:
        read_trie(path)
    except FormatError as exc:
        path.unlink(missing_ok=True)
        detail = str(exc).replace(str(path), "line")
        raise FetchError(f"{url}: not a trie workload file ({detail})") from None


def _expected(name: str, pins: dict[str, str]) -> str | None:
    return PUBLISHED_SHA256.get(name) or pins.get(name)


def fetch(config: FetchConfig, progress: Callable[[str], None] = lambda _: None) -> list[Fetched]:
    """Download (or reuse from the cache) every file, verifying sha256 against its pin."""
    directory = config.directory()
    directory.mkdir(parents=True, exist_ok=True)
    pins = _load_pins(directory)
    results: list[Fetched] = []
    with httpx.Client(timeout=config.timeout_s, follow_redirects=True) as client:
        for name in FILES:
            target = directory / name
            expected = _expected(name, pins)
            if target.exists() and not config.refresh and expected is not None:
                actual = file_sha256(target)
                if actual != expected:
                    raise FetchError(
                        f"{target}: sha256 {actual} does not match the pin {expected}; "
                        "use --refresh to download again"
                    )
                results.append(Fetched(name, target, actual, False, False))
                continue
            url = f"{config.base_url.rstrip('/')}/{name}"
            progress(f"downloading {url}")
            tmp = _download(client, url, directory)
            actual = file_sha256(tmp)
            if expected is not None and actual != expected:
                tmp.unlink(missing_ok=True)
                raise FetchError(f"{url}: sha256 {actual} does not match the pin {expected}")
            _check_trie(tmp, url)  # never pin (or keep) something that is not a trie file
            os.replace(tmp, target)
            pinned_now = expected is None
            if pinned_now:
                pins[name] = actual
                _save_pins(directory, pins)
            results.append(Fetched(name, target, actual, True, pinned_now))
    return results
