"""Session stitching against ground truth (issue 16): concurrent agents with known sessions
and parents (benchmarks/stitch_traffic.py) through a real `agentload capture` in front of
`agentload sim`; the recorded sessions (online) and those of `agentload trace stitch`
(offline) scored against the truth.

    .venv/bin/python -m benchmarks.bench_stitch [--agents 100] [--json FILE]

Scores: pairwise precision, recall and F1 of session assignment (over every pair of calls:
same true session vs same stitched session) and parent-link accuracy (the share of true
sessions whose first call starts a stitched session with the right parent call, or none
for a root). A call whose request is identical to one of another session (twins' first
calls) can be told apart by no content: scores without such calls are the headline,
scores over all calls are shown beside them.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import Counter
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import polars as pl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agentload.capture.restitch import restitch_frames  # noqa: E402
from agentload.traceformat import schema as S  # noqa: E402
from agentload.traceformat.content import content_table  # noqa: E402
from agentload.traceformat.io import read  # noqa: E402
from benchmarks import stitch_traffic  # noqa: E402
from tests.capture.proxyhelper import running_capture  # noqa: E402
from tests.simhelper import running_sim  # noqa: E402

_TRUE = ("_true_session", "_true_call", "_true_parent", "_true_parent_call")


@dataclass(frozen=True)
class Score:
    calls: int
    sessions: int  # true sessions
    ambiguous_calls: int
    precision: float
    recall: float
    f1: float
    parent_accuracy: float
    f1_all: float  # ambiguous calls included
    parent_accuracy_all: float


def with_truth(frame: pl.DataFrame) -> pl.DataFrame:
    """Trace rows with the true session, call and parent the traffic carried."""
    content = content_table(frame)
    columns: list[list[object]] = [[], [], [], []]
    for ids in frame[S.REQUEST_CONTENT_IDS].to_list():
        body = json.loads(content[ids[0]] or "{}")
        mark, session, call, parent, parent_call = str(body["user"]).split("|")
        assert mark == stitch_traffic.MARK
        truth = (session, int(call), parent or None, int(parent_call) if parent else None)
        for column, value in zip(columns, truth, strict=True):
            column.append(value)
    return frame.with_columns(
        pl.Series(name, col) for name, col in zip(_TRUE, columns, strict=True)
    )


def _pairs(labels: Sequence[object]) -> int:
    return sum(n * (n - 1) // 2 for n in Counter(labels).values())


def pairwise(true: Sequence[object], pred: Sequence[object]) -> tuple[float, float, float]:
    both = _pairs(list(zip(true, pred, strict=True)))
    p_pairs, t_pairs = _pairs(pred), _pairs(true)
    precision = both / p_pairs if p_pairs else 1.0
    recall = both / t_pairs if t_pairs else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def _parent_accuracy(rows: pl.DataFrame, keep: set[str]) -> float:
    """Share of true sessions in `keep` whose first call starts a stitched session whose
    parent call is the true parent call (none for a root)."""
    where = {
        (r[S.SESSION_ID], r[S.CALL_INDEX]): (r[_TRUE[0]], r[_TRUE[1]])
        for r in rows.iter_rows(named=True)
    }
    firsts = rows.filter(pl.col(_TRUE[1]) == 0)
    good = total = 0
    for r in firsts.iter_rows(named=True):
        if r[_TRUE[0]] not in keep:
            continue
        total += 1
        true_parent = (r[_TRUE[2]], r[_TRUE[3]]) if r[_TRUE[2]] else None
        if r[S.CALL_INDEX] != 0:
            continue
        pred = None
        if r[S.PARENT_SESSION_ID] is not None:
            pred = where.get((r[S.PARENT_SESSION_ID], r[S.PARENT_CALL_INDEX]), ("?", -1))
        good += pred == true_parent
    return good / total if total else 1.0


def score(rows: pl.DataFrame) -> Score:
    """Scores of stitched rows (SESSION_ID...) that carry the truth (`with_truth`)."""
    messages = [tuple(ids[1:]) for ids in rows[S.REQUEST_CONTENT_IDS].to_list()]
    owners: dict[tuple[str, ...], set[str]] = {}
    for m, t in zip(messages, rows[_TRUE[0]].to_list(), strict=True):
        owners.setdefault(m, set()).add(t)
    ambiguous = [len(owners[m]) > 1 for m in messages]
    rows = rows.with_columns(pl.Series("_ambiguous", ambiguous))
    clear = rows.filter(~pl.col("_ambiguous"))
    # a child whose parent call is ambiguous cannot be placed by content either
    bad_calls = {
        (r[_TRUE[0]], r[_TRUE[1]]) for r in rows.filter(pl.col("_ambiguous")).iter_rows(named=True)
    }
    sessions = set(rows[_TRUE[0]].to_list())
    keep = {
        r[_TRUE[0]]
        for r in rows.filter(pl.col(_TRUE[1]) == 0).iter_rows(named=True)
        if (r[_TRUE[0]], 0) not in bad_calls and (r[_TRUE[2]], r[_TRUE[3]]) not in bad_calls
    }
    precision, recall, f1 = pairwise(clear[_TRUE[0]].to_list(), clear[S.SESSION_ID].to_list())
    return Score(
        calls=rows.height,
        sessions=len(sessions),
        ambiguous_calls=sum(ambiguous),
        precision=precision,
        recall=recall,
        f1=f1,
        parent_accuracy=_parent_accuracy(rows, keep),
        f1_all=pairwise(rows[_TRUE[0]].to_list(), rows[S.SESSION_ID].to_list())[2],
        parent_accuracy_all=_parent_accuracy(rows, sessions),
    )


def measure(agents: int, session_ids: bool, ids: str, work: Path) -> dict[str, Any]:
    """One run: `agents` agents through one capture proxy; online and offline scores."""
    script = work / "script.json"
    script.write_text(json.dumps(stitch_traffic.SCRIPT))
    out = work / f"trace-{agents}-{'ids' if session_ids else 'none'}-{ids}"
    with ExitStack() as stack:
        sim = stack.enter_context(
            running_sim("--preset", "fast", "--agent-script", str(script), "--tool-call-ids", ids)
        )
        proxy = stack.enter_context(running_capture(sim.url, out))
        calls = stitch_traffic.drive(proxy.url, sim.model, agents, session_ids)
    frames = [read(p, S.Kind.TRACE).frame for p in sorted(out.glob("*.arrow"))]
    online = pl.concat(frames)
    assert online.height == calls, (online.height, calls)
    offline = pl.concat(restitch_frames(frames))
    return {
        "agents": agents,
        "session_ids": session_ids,
        "tool_call_ids": ids,
        "online": asdict(score(with_truth(online))),
        "offline": asdict(score(with_truth(offline))),
    }


RUNS = ((True, "unique"), (False, "unique"), (True, "deterministic"), (False, "deterministic"))


def run(agents: int, work: Path) -> list[dict[str, Any]]:
    work.mkdir(parents=True, exist_ok=True)
    return [measure(agents, ids_on, ids, work) for ids_on, ids in RUNS]


def markdown(results: Sequence[dict[str, Any]]) -> str:
    """The RESULTS.md section."""
    head = (
        "| agents | session ids | tool-call ids | stitched | calls | ambiguous calls | "
        "precision | recall | F1 | parent acc. | F1 (all) | parent acc. (all) |\n"
        "|---:|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    )
    lines = [head]
    for r in results:
        for how in ("online", "offline"):
            s = r[how]
            lines.append(
                f"| {r['agents']} | {'yes' if r['session_ids'] else 'no'} | {r['tool_call_ids']} "
                f"| {how} | {s['calls']} | {s['ambiguous_calls']} | {s['precision']:.4f} | "
                f"{s['recall']:.4f} | {s['f1']:.4f} | {s['parent_accuracy']:.4f} | "
                f"{s['f1_all']:.4f} | {s['parent_accuracy_all']:.4f} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=100, help="agents at once per run")
    parser.add_argument("--json", type=Path, help="also write the figures here (JSON)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        results = run(args.agents, Path(tmp))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    print(markdown(results))


if __name__ == "__main__":
    main()
