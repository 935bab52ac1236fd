"""`adaptlab monitor drift MODEL`: a running server's drift figures for a version, read from its
`GET /monitor/drift` (the live window is in the server's memory; the token decides which tenant's models)."""

from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from adaptlab.serve.errors import ServeError

monitor_app = typer.Typer(help="Watch served versions: drift of live prompts from the training prompts.", no_args_is_help=True)
console = Console()
REQUEST_TIMEOUT_S = 60


@monitor_app.command("drift")
def drift_command(
    model: Annotated[str, typer.Argument(help="tenant/name@alias or @vN; an alias is reported for the version it points at now")],
    server: Annotated[str, typer.Option("--server", envvar="ADAPTLAB_SERVER", help="URL of the running `adaptlab serve`")] = "http://127.0.0.1:8000",
    token: Annotated[Optional[str], typer.Option("--token", envvar="ADAPTLAB_TOKEN", help="a registry token of the model's tenant")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the server's JSON answer")] = False,
) -> None:
    """Drift of the live prompts a version answered from its training prompts, and the prompts' clusters."""
    from adaptlab.serve.drift_report import DriftReport

    answer = _get(server, "/monitor/drift", {"model": model}, token)
    if as_json:
        console.print_json(data=answer)
        return
    report = DriftReport.model_validate(answer)
    console.print(_figures_table(report))
    if report.clusters:
        console.print(_clusters_table(report))


def _get(server: str, path: str, params: dict, token: str | None) -> dict:
    import httpx

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        response = httpx.get(server.rstrip("/") + path, params=params, headers=headers, timeout=REQUEST_TIMEOUT_S)
    except httpx.HTTPError as exc:
        raise ServeError(503, f"cannot reach the server at {server} ({exc}); start `adaptlab serve` or pass --server") from exc
    if response.status_code != 200:
        try:
            message = response.json()["error"]["message"]
        except (ValueError, KeyError, TypeError):
            message = response.text[:300]
        raise ServeError(response.status_code, f"{server}{path}: HTTP {response.status_code}: {message}")
    return response.json()


def _figures_table(report) -> Table:
    table = Table("", "", title=f"drift of {report.model} ({report.version})", show_header=False)
    table.add_row("status", f"{report.status}: {report.detail}")
    table.add_row("window", f"{report.window_prompts} sampled prompts (keeps {report.window_capacity}, sample rate {report.sample_rate:g})")
    if report.reference:
        reference = report.reference
        table.add_row("reference", f"{reference.embedded_prompts} embedded of {reference.prompts_seen} training prompts ({reference.encoder})")
    if report.figures:
        embedding, length = report.figures.embedding, report.figures.length
        table.add_row(
            "embeddings",
            f"ROC AUC {embedding.roc_auc:.3f} (95 % interval {embedding.interval.low:.3f}–{embedding.interval.high:.3f}), "
            f"threshold {embedding.threshold}: {'DRIFTED' if embedding.drifted else 'no drift'}",
        )
        table.add_row(
            "prompt lengths",
            f"median {length.live_median_chars:g} chars live vs {length.reference_median_chars:g} in training; "
            f"KS {length.ks_statistic:.3f}, p = {length.p_value:.3g}",
        )
        table.add_row("tested at", report.figures.computed_at)
    return table


def _clusters_table(report) -> Table:
    table = Table(title="live prompts by cluster (largest first)")
    for column in ("size", "share", "nearest training prompt (cosine)", "central prompt"):
        table.add_column(column)
    for cluster in report.clusters:
        central = cluster.central_prompt if cluster.central_prompt is not None else f"#{cluster.central_sample_id}, {cluster.central_prompt_length_chars} chars"
        table.add_row(str(cluster.size), f"{cluster.share:.0%}", f"{cluster.nearest_reference_similarity:.2f}", central[:120])
    if not report.prompt_text_kept:
        table.caption = "prompt text is not kept (start the server with --keep-prompt-text to see it)"
    return table
