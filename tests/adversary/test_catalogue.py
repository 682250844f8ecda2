"""The adversarial catalogue in the unit tier: every row of the note is re-created by a
scenario, and a fast subset (one or two attempts of most failure kinds, through the real
CLI, sim and capture) holds. The whole catalogue: `make adversary`."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from tests.adversary import catalogue
from tests.adversary.catalogue_rows import load
from tests.adversary.families import attempts
from tests.adversary.harness import Verdict

README = Path(__file__).with_name("README.md")
ROOT = Path(__file__).parents[2]
KINDS = [f"H{i}" for i in range(1, 11)] + [f"M{i}" for i in range(1, 7)]
KINDS += [f"L{i}" for i in range(1, 10)]

# A few seconds each: H1 H3 H4 H5 H6 H7 L1 L2 L3 L4 L5 L6 L8 L9 M2 M4 M5, transparency.
FAST = (
    1,
    2,
    4,
    6,
    30,
    34,
    37,
    44,
    45,
    54,
    57,
    64,
    69,
    71,
    80,
    89,
    108,
    109,
    112,
    117,
    140,
    297,
    453,
    518,
)


def test_every_row_of_the_note_is_an_attempt() -> None:
    rows = load()
    assert [r.id for r in rows] == list(range(1, 631))
    assert Counter(r.then for r in rows) == {"held": 511, "broke": 119}
    made = attempts()
    assert [a.id for a in made] == [r.id for r in rows]
    assert not [a.name for a in made if a.reconstructed == "no scenario"]


def test_fast_subset_holds(tmp_path: Path) -> None:
    chosen = [a for a in attempts() if a.id in FAST]
    results = catalogue.run_all(chosen, tmp_path, jobs=3, verbose=False)
    broken = [
        f"{r.attempt.id} {r.attempt.name}: {r.verdict.detail}"
        for r in results
        if not r.verdict.held
    ]
    assert len(results) == len(FAST) and not broken, "\n".join(broken)


def test_a_broken_promise_is_reported(tmp_path: Path) -> None:
    """The runner can fail: a scenario that raises, or one whose promise does not hold,
    is counted broken and named."""
    real = next(a for a in attempts() if a.id == 112)

    def wrong(res: object) -> Verdict:
        raise RuntimeError("boom")

    fake = type(real)(9001, "always-raises", "error", "", wrong)
    results = catalogue.run_all([fake], tmp_path, jobs=1, verbose=False)
    text = catalogue.summary(results)
    assert "broken: 9001 always-raises: scenario failed: RuntimeError: boom" in text
    assert text.splitlines()[-1].startswith("attempts 1, held 0, broken 1")


def test_every_failure_kind_has_a_named_regression_test() -> None:
    """README.md's table names, for each of the note's 25 kinds, tests that exist."""
    table = re.findall(r"^\| ([HML]\d+) \| [^|]+ \| ([^|]+) \|$", README.read_text(), re.M)
    assert [kind for kind, _ in table] == KINDS
    missing = []
    for kind, tests in table:
        for test in tests.split(", "):
            path, _, name = test.strip().partition("::")
            source = ROOT / path
            if not source.is_file() or f"def {name}(" not in source.read_text():
                missing.append(f"{kind}: {test}")
    assert not missing, missing
