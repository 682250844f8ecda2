"""Keys against a strict sim that requires one, and the canary: a key (and a secret header)
found in no output of replay or report.

Every way of giving the key is one run through the CLI: `--api-key`, `AGENTLOAD_API_KEY`,
`OPENAI_API_KEY` (chat), `ANTHROPIC_API_KEY` (messages). Outputs searched: stdout and stderr,
the result file (its raw bytes, whose metadata is stored uncompressed, and its table as
decoded by `traceformat` re-encoded without compression, which the column buffers are not),
and `report`'s terminal text, JSON, HTML, CSV and Parquet (decoded). Each search has a
positive control: the public header's value, recorded on purpose, is found the same way,
and so is a key planted in a result file's metadata or in one of its (compressed) columns.
"""

from __future__ import annotations

import io as pyio
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from agentload.traceformat import io
from agentload.traceformat import schema as S
from agentload.traceformat.ipcread import read_table
from agentload.traceformat.schema import Kind
from tests.replay.workloads import Shape, write_profile
from tests.simhelper import Sim, running_sim
from tests.values import dig

KEY = f"sk-canary-{secrets.token_hex(16)}"
HEADER_SECRET = f"hdr-canary-{secrets.token_hex(8)}"
PUBLIC_VALUE = f"public-{secrets.token_hex(6)}"
CLI = [sys.executable, "-c", "from agentload.cli import main; main()"]
KEY_VARIABLES = ("AGENTLOAD_API_KEY", "OPENAI_API_KEY", "ANTHROPIC_API_KEY")


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    clean = {k: v for k, v in os.environ.items() if k not in KEY_VARIABLES}
    return subprocess.run(
        [*CLI, *args], capture_output=True, env=clean | (env or {}), timeout=180, check=False
    )


@pytest.fixture(scope="module")
def hosted_sim() -> Iterator[Sim]:
    """A strict sim requiring KEY, which it reads from the environment (not argv)."""
    os.environ["AGENTLOAD_SIM_API_KEY"] = KEY
    try:
        with running_sim("--preset", "fast", "--strict") as sim:
            yield sim
    finally:
        del os.environ["AGENTLOAD_SIM_API_KEY"]


@pytest.fixture(scope="module")
def profile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("secrets") / "small.arrow"
    write_profile(path, Shape(sessions=2, calls=2, think_s=(0.01, 0.01), child=False))
    return path


def _replay_args(sim: Sim, profile: Path, out: Path, api: str) -> list[str]:
    kind = "anthropic" if api == "messages" else "openai"
    return [
        "replay", str(profile), "--target", sim.url, "--model", sim.model, "--out", str(out),
        "--api", api, "--target-kind", kind, "--header", f"X-Canary: {HEADER_SECRET}",
        "--public-header", f"X-Public: {PUBLIC_VALUE}", "--scrape-metrics",
    ]  # fmt: skip


def decoded_result(path: Path) -> bytes:
    """A result file's raw bytes, plus its table (data and schema metadata, as the
    traceformat reader decodes them) written again as an uncompressed Arrow stream."""
    table, _ = read_table(path)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:  # no compression
        writer.write_table(table)
    decoded: bytes = sink.getvalue().to_pybytes()
    return path.read_bytes() + decoded


def decoded_parquet(folder: Path) -> bytes:
    out = pyio.BytesIO()
    for path in sorted(folder.glob("*.parquet")):
        table = pq.read_table(path)
        with pa.ipc.new_stream(out, table.schema) as writer:
            writer.write_table(table)
        out.write(path.read_bytes())
    return out.getvalue()


def report_outputs(result: Path, tmp: Path) -> dict[str, bytes]:
    """Everything `agentload report` writes or prints for `result`, decoded."""
    html, js, csv, parquet = tmp / "r.html", tmp / "r.json", tmp / "csv", tmp / "parquet"
    proc = _run(
        "report", str(result), "--html", str(html), "--json", str(js),
        "--csv", str(csv), "--parquet", str(parquet), "--force",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr.decode()
    csv_bytes = b"".join(p.read_bytes() for p in sorted(csv.glob("*.csv")))
    assert csv_bytes and list(parquet.glob("*.parquet"))
    return {
        "report terminal": proc.stdout + proc.stderr,
        "html": html.read_bytes(),
        "json": js.read_bytes(),
        "csv": csv_bytes,
        "parquet": decoded_parquet(parquet),
    }


def assert_no_secret(outputs: dict[str, bytes]) -> None:
    for name, data in outputs.items():
        for secret in (KEY, HEADER_SECRET):
            assert secret.encode() not in data, f"{name} holds a secret"


@pytest.mark.parametrize(
    ("api", "flag", "env"),
    [
        ("responses", True, {}),
        ("messages", False, {"AGENTLOAD_API_KEY": KEY}),
        ("chat", False, {"OPENAI_API_KEY": KEY}),
        ("messages", False, {"ANTHROPIC_API_KEY": KEY}),
    ],
    ids=["--api-key", "AGENTLOAD_API_KEY", "OPENAI_API_KEY", "ANTHROPIC_API_KEY"],
)
def test_key_works_and_never_shows(
    hosted_sim: Sim, profile: Path, tmp_path: Path, api: str, flag: bool, env: dict[str, str]
) -> None:
    out = tmp_path / "run.arrow"
    args = _replay_args(hosted_sim, profile, out, api) + (["--api-key", KEY] if flag else [])
    if "AGENTLOAD_API_KEY" in env:
        args += ["--workers", "2"]  # the key reaches spawned worker processes
    proc = _run(*args, env=env)
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    loaded = io.read(out)
    statuses = loaded.frame[S.STATUS].to_list()
    assert statuses and set(statuses) == {"ok"}, loaded.frame[S.ERROR].to_list()
    if "AGENTLOAD_API_KEY" in env:
        assert set(loaded.frame[S.WORKER].to_list()) == {0, 1}
    options = loaded.info["options"]
    assert isinstance(options, dict)
    source = "--api-key" if flag else next(iter(env))
    assert set(options["api_keys"].values()) == {source}  # where it came from, not the key
    assert ["X-Canary", "[redacted]"] in options["headers"]
    outputs = {"replay terminal": proc.stdout + proc.stderr, "result": decoded_result(out)}
    outputs |= report_outputs(out, tmp_path)
    assert_no_secret(outputs)
    # positive control: the same searches find a value recorded on purpose (the HTML shows
    # the options cut at 300 characters: there, the target's URL)
    for name in ("result", "json"):
        assert PUBLIC_VALUE.encode() in outputs[name], name
    assert hosted_sim.url.encode() in outputs["html"]
    # ... and a key planted in the metadata or in a (compressed) column
    in_info, in_column = tmp_path / "planted-info.arrow", tmp_path / "planted-column.arrow"
    io.write_file(in_info, Kind.RESULT, loaded.frame, info={"canary": KEY})
    planted = loaded.frame.with_columns(pl.lit(KEY * 50).alias(S.ERROR))
    io.write_file(in_column, Kind.RESULT, planted, info=loaded.info)
    assert KEY.encode() in decoded_result(in_info)
    assert KEY.encode() in decoded_result(in_column)


@pytest.mark.parametrize("preflight", ["--preflight", "--no-preflight"])
def test_without_key_fails_with_the_401_text(
    hosted_sim: Sim, profile: Path, tmp_path: Path, preflight: str
) -> None:
    """Stopped by the preflight's probe, or, without it, by every request failing."""
    proc = _run(*_replay_args(hosted_sim, profile, tmp_path / "run.arrow", "chat"), preflight)
    text = (proc.stdout + proc.stderr).decode()
    assert proc.returncode != 0
    assert "You didn't provide an API key" in text
    assert HEADER_SECRET not in text


def test_malformed_header_is_not_quoted(tmp_path: Path, profile: Path) -> None:
    proc = _run(
        "replay", str(profile), "--target", "http://127.0.0.1:9", "--model", "m",
        "--header", f"Authorization Bearer {KEY}", "--out", str(tmp_path / "r.arrow"),
    )  # fmt: skip
    assert proc.returncode == 2
    assert KEY.encode() not in proc.stdout + proc.stderr
    assert b"--header (#1 of 1)" in proc.stderr


def test_key_flag_and_credential_header_conflict(tmp_path: Path, profile: Path) -> None:
    proc = _run(
        "replay", str(profile), "--target", "http://127.0.0.1:9", "--model", "m",
        "--header", f"x-api-key: {KEY}", "--api-key", KEY, "--out", str(tmp_path / "r.arrow"),
    )  # fmt: skip
    assert proc.returncode == 2
    assert KEY.encode() not in proc.stdout + proc.stderr
    assert b"give one" in proc.stderr


def test_echoed_key_is_masked_in_rows(tmp_path: Path) -> None:
    """A server that quotes the key in its 401 (as OpenAI quotes part of it): the row, the
    summary and the report show it masked."""
    from tests.replay.echo_server import running_echo_401

    profile = tmp_path / "p.arrow"
    write_profile(profile, Shape(sessions=1, calls=1, think_s=(0.0,), child=False))
    out = tmp_path / "run.arrow"
    with running_echo_401() as url:
        proc = _run(
            "replay", str(profile), "--target", url, "--model", "m", "--out", str(out),
            "--no-preflight", "--api", "chat", "--no-calibrate",
            env={"OPENAI_API_KEY": KEY},
        )  # fmt: skip
    errors = io.read(out).frame[S.ERROR].to_list()
    assert len(errors) == 1 and "Incorrect API key provided: [redacted]" in errors[0]
    assert_no_secret(
        {"terminal": proc.stdout + proc.stderr, "result": decoded_result(out)}
        | report_outputs(out, tmp_path)
    )
    with running_echo_401() as url:  # the preflight's probe meets the echo first
        probed = _run(
            "replay", str(profile), "--target", url, "--model", "m", "--out", str(out),
            "--api", "chat", "--force", env={"OPENAI_API_KEY": KEY},
        )  # fmt: skip
    assert probed.returncode == 3
    assert b"Incorrect API key provided: [redacted]" in probed.stderr
    assert KEY.encode() not in probed.stdout + probed.stderr


def test_key_precedence_and_sources() -> None:
    """--api-key, then AGENTLOAD_API_KEY, then the provider's own variable, per API."""
    from agentload.providers.api import Api
    from agentload.replay.keys import resolve_keys

    env = {"OPENAI_API_KEY": "sk-openai-1234", "ANTHROPIC_API_KEY": "sk-ant-12345678"}
    keys = resolve_keys(None, env)
    assert keys.headers(Api.OPENAI_CHAT) == {"Authorization": "Bearer sk-openai-1234"}
    assert keys.headers(Api.ANTHROPIC_MESSAGES) == {"x-api-key": "sk-ant-12345678"}
    shared = resolve_keys(None, env | {"AGENTLOAD_API_KEY": "sk-shared-123"})
    assert shared.sources() == {str(api): "AGENTLOAD_API_KEY" for api in Api}
    flag = resolve_keys("sk-flag-1234", env | {"AGENTLOAD_API_KEY": "sk-shared-123"})
    assert flag.headers(Api.ANTHROPIC_MESSAGES) == {"x-api-key": "sk-flag-1234"}
    assert resolve_keys(None, env, ["Authorization"]).sources() == {}  # the header wins
    assert resolve_keys(None, {}).sources() == {}


def test_config_shows_no_secret(tmp_path: Path) -> None:
    from agentload.replay.config import ReplayConfig
    from agentload.replay.keys import resolve_keys

    config = ReplayConfig(
        source=tmp_path / "p.arrow",
        target="http://127.0.0.1:9",
        model="m",
        out=tmp_path / "r.arrow",
        headers=(("Cookie", f"s={HEADER_SECRET}"), ("X-Public", PUBLIC_VALUE)),
        public_headers=("Cookie", "x-public"),  # a credential header stays masked
        api_keys=resolve_keys(KEY, {}),
    )
    shown = repr(config) + str(config.options())
    assert KEY not in shown and HEADER_SECRET not in shown
    assert PUBLIC_VALUE in shown
    assert config.target_headers()["Authorization"] == f"Bearer {KEY}"
    assert config.redactor()(f"echo {KEY} s={HEADER_SECRET}") == "echo [redacted] [redacted]"


def test_sweep_takes_the_request_options(hosted_sim: Sim, profile: Path, tmp_path: Path) -> None:
    """sweep has replay's request options; its points and page keep the secrets too."""
    out_dir = tmp_path / "sweep"
    proc = _run(
        "sweep", str(profile), "--target", hosted_sim.url, "--model", hosted_sim.model,
        "--concurrency", "1", "--max-sessions", "1", "--api", "chat", "--target-kind",
        "openai", "--api-key", KEY, "--header", f"X-Canary: {HEADER_SECRET}",
        "--timeout", "30", "--transport", "httpx", "--no-calibrate", "--out-dir", str(out_dir),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    point = out_dir / "c1.arrow"
    loaded = io.read(point)
    assert (loaded.frame[S.STATUS] == "ok").all(), loaded.frame[S.ERROR].to_list()
    options = loaded.info["options"]
    assert isinstance(options, dict)
    assert (options["transport"], options["timeout"], options["calibrate"]) == ("httpx", 30, False)
    outputs = {"terminal": proc.stdout + proc.stderr, "point": decoded_result(point)}
    outputs["html"] = (out_dir / "sweep.html").read_bytes()
    assert_no_secret(outputs)


def test_report_masks_credentials_of_older_files(
    hosted_sim: Sim, profile: Path, tmp_path: Path
) -> None:
    """A file written before replay masked headers holds them in clear: report shows the
    credential ones masked, others as recorded."""
    out = tmp_path / "run.arrow"
    proc = _run(*_replay_args(hosted_sim, profile, out, "chat"), "--api-key", KEY)
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    loaded = io.read(out)
    options = dict(dig(loaded.info, "options"))
    options["headers"] = [["Authorization", f"Bearer {KEY}"], ["X-Old", PUBLIC_VALUE]]
    old = tmp_path / "old.arrow"
    io.write_file(old, Kind.RESULT, loaded.frame, info=loaded.info | {"options": options})
    assert KEY.encode() in decoded_result(old)  # positive control: the old file holds it
    js = tmp_path / "old.json"
    assert _run("report", str(old), "--json", str(js), "--quiet").returncode == 0
    assert KEY not in js.read_text() and PUBLIC_VALUE in js.read_text()
