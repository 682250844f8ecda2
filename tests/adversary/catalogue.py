"""Run the adversarial catalogue (issue 21) against real parts and print the tally (README.md:
how to run it, and the regression test of each of the 25 failure kinds).

    python -m tests.adversary.catalogue            # all 630 attempts
    python -m tests.adversary.catalogue --only 'replay-opt|^inspect:' --jobs 3

Every row of catalogue.tsv (the note's "Every attempt" table) is one attempt: the scenario
families.py maps it to, run against the real CLI (.venv/bin/agentload), the real sim, real
capture proxies and misbehaving servers started once and shared. The last line reads
`attempts N, held H, broken B`; every broken attempt is listed by id and name first.
Exit status 0 when nothing broke, 1 otherwise.
"""

from __future__ import annotations

import argparse
import faulthandler
import re
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from tests.adversary.families import Attempt, attempts
from tests.adversary.harness import Verdict, broke
from tests.adversary.resources import Resources, resources
from tests.capture import proxyhelper


@dataclass(frozen=True)
class Result:
    attempt: Attempt
    verdict: Verdict
    secs: float


def run_one(attempt: Attempt, res: Resources) -> Result:
    start = time.monotonic()
    try:
        verdict = attempt.run(res)
    except Exception as exc:  # a scenario that cannot even run is a broken attempt, named
        verdict = broke(f"scenario failed: {type(exc).__name__}: {exc}"[:300])
    return Result(attempt, verdict, time.monotonic() - start)


def run_all(
    selected: Sequence[Attempt], root: Path, jobs: int, verbose: bool, warm: bool = True
) -> list[Result]:
    """Attempts marked `alone` (timing, signals, load) run after the others, one at a time;
    `warm`: one-shot commands in warm CLI workers (warm.py), else each its own process."""
    proxyhelper.START_TIMEOUT_S = 180.0  # many CLIs at once on 2 cores start slowly
    results: list[Result] = []
    with resources(root, warm) as res:
        shared = [a for a in selected if not a.alone]
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            for result in pool.map(lambda a: run_one(a, res), shared):
                _progress(result, verbose)
                results.append(result)
        for attempt in (a for a in selected if a.alone):
            result = run_one(attempt, res)
            _progress(result, verbose)
            results.append(result)
    return sorted(results, key=lambda r: r.attempt.id)


def _progress(result: Result, verbose: bool) -> None:
    mark = "held" if result.verdict.held else "BROKEN"
    if verbose or not result.verdict.held:
        a = result.attempt
        print(
            f"{a.id:4d} {mark:6s} {result.secs:5.1f}s {a.name}: {result.verdict.detail}", flush=True
        )


def summary(results: Sequence[Result]) -> str:
    broken = [r for r in results if not r.verdict.held]
    rebuilt = sum(1 for r in results if r.attempt.reconstructed)
    lines = [f"broken: {r.attempt.id} {r.attempt.name}: {r.verdict.detail}" for r in broken]
    lines.append(
        f"attempts {len(results)}, held {len(results) - len(broken)}, broken {len(broken)}"
        f" ({rebuilt} reconstructed)"
    )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", help="regex on 'id name': run only the matching attempts")
    parser.add_argument("--jobs", type=int, default=3, help="attempts run at once (default 3)")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it")
    parser.add_argument("-v", "--verbose", action="store_true", help="print every attempt")
    parser.add_argument(
        "--exec",
        action="store_true",
        help="run every command as its own .venv/bin/agentload process (slower: ~2 s of "
        "imports each) instead of one-shot commands in warm CLI workers",
    )
    opts = parser.parse_args(argv)
    faulthandler.register(signal.SIGUSR1)  # `kill -USR1 PID`: where every thread is
    selected = [a for a in attempts() if not opts.only or re.search(opts.only, f"{a.id} {a.name}")]
    start = time.monotonic()
    if opts.keep:
        opts.keep.mkdir(parents=True, exist_ok=True)
        results = run_all(selected, opts.keep, opts.jobs, opts.verbose, not opts.exec)
    else:
        with tempfile.TemporaryDirectory(prefix="agentload-adversary-") as tmp:
            results = run_all(selected, Path(tmp), opts.jobs, opts.verbose, not opts.exec)
    print(summary(results))
    print(f"({time.monotonic() - start:.0f} s)")
    return 0 if all(r.verdict.held for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
