"""A writer process killed with SIGKILL mid-stream leaves every complete batch readable."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from agentload.traceformat.io import read
from agentload.traceformat.schema import CALL_INDEX, Kind

REPO = Path(__file__).resolve().parents[2]

# Writes profile rows without pause (batches of 50 rows with long text, so a kill lands
# inside a batch write as often as between them) and reports each flush on stdout.
WRITER = """
import sys
from agentload.traceformat.io import StreamWriter
from agentload.traceformat.schema import *
writer = StreamWriter(sys.argv[1], Kind.PROFILE, {"test": "crash"}, flush_rows=50)
i = 0
while True:
    writer.write([{SESSION_ID: "s%d" % (i // 7), CALL_INDEX: i, WORKLOAD: "crash",
                   ARRIVAL_S: 0.0, THINK_S: 0.5, INPUT_TOKENS: i, NEW_INPUT_TOKENS: 1,
                   OUTPUT_TOKENS: 2, HASH_IDS: list(range(i % 40)), EXTRA: "x" * (i % 997)}])
    i += 1
    if i % 50 == 0:
        print(writer.rows_written, flush=True)
"""


def test_sigkill_mid_stream_keeps_complete_batches(tmp_path: Path) -> None:
    path = tmp_path / "crash.arrows"
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path)], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        flushed = [int(proc.stdout.readline()) for _ in range(6)]
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert flushed == [50, 100, 150, 200, 250, 300]
    loaded = read(path, Kind.PROFILE)
    assert loaded.truncated
    assert loaded.info == {"test": "crash"}
    rows = loaded.frame.height
    assert rows >= flushed[-1]
    assert rows % 50 == 0  # whole batches only, never a partial one
    assert loaded.frame[CALL_INDEX].to_list() == list(range(rows))
