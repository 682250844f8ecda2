"""`agentload report RESULTS`: metrics in the terminal, plus HTML / JSON / Parquet / CSV."""

from __future__ import annotations

from pathlib import Path

import click

from agentload.base.errors import ConfigError
from agentload.commands._options import force_option, slo_option


@click.command("report")
@click.argument("results", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--html",
    "html_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write a self-contained HTML report (works offline) to this file.",
)
@click.option(
    "--json",
    "json_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the summary metrics as JSON to this file.",
)
@click.option(
    "--parquet",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write per-request/session/turn/ITL tables as Parquet into this folder.",
)
@click.option(
    "--csv",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write the same tables as CSV (list columns dropped) into this folder.",
)
@slo_option()
@click.option(
    "--gpus",
    type=int,
    default=None,
    help="GPU count for per-GPU rates (default: the --gpus recorded by replay).",
)
@click.option(
    "--percentiles",
    default="50,90,95,99",
    show_default=True,
    help="Percentiles (0-100, decimals allowed, e.g. 50,99,99.9) of the latency "
    "distributions in the tables and the JSON summary.",
)
@click.option("--quiet", is_flag=True, help="Do not print the tables.")
@force_option()
def command(
    results: Path,
    html_path: Path | None,
    json_path: Path | None,
    parquet: Path | None,
    csv: Path | None,
    slo: str | None,
    gpus: int | None,
    percentiles: str,
    quiet: bool,
    force: bool,
) -> None:
    """Analyse a result file written by `agentload replay`."""
    from agentload.analysis.goodput import parse_slo
    from agentload.analysis.report.run_report import ReportConfig, run
    from agentload.orchestration.sweep import parse_list
    from agentload.traceformat.distribution import percentile_points

    percents = parse_list(percentiles, float, "--percentiles")
    if not percents or any(not 0 <= p <= 100 for p in percents):
        raise ConfigError(f"--percentiles: expected numbers in 0..100, got {percentiles!r}")

    if not results.exists():
        raise ConfigError(f"{results}: no such result file")
    from agentload.traceformat.outputs import check_input, check_output, check_output_dir

    check_input(results)
    for path, option in ((html_path, "--html"), (json_path, "--json")):
        check_output(path, option, inputs=[results], force=force)
    check_output_dir(parquet, "--parquet")
    check_output_dir(csv, "--csv")
    if gpus is not None and gpus < 1:
        raise ConfigError(f"--gpus: must be >= 1, got {gpus}")
    config = ReportConfig(
        results=results,
        html=html_path,
        json=json_path,
        parquet=parquet,
        csv=csv,
        slo=parse_slo(slo),
        gpus=gpus,
        quiet=quiet,
        points=percentile_points(percents),
    )
    run(config)
