"""`adaptlab review ...`: blind human review sets, a thin view of `Registry`'s review operations (reviews.py).
Same registry options as `adaptlab registry` (--registry, --db, --blobs, --token), anywhere on the line."""

import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.progress import Progress

from adaptlab.errors import ConfigError
from adaptlab.registry.cli_options import RegistryGroup, open_registry, registry_options
from adaptlab.registry.entities import BLIND_VERDICTS, REVIEW_BATCH_SIZE, REVIEW_MAX_NEW_TOKENS

review_app = typer.Typer(
    cls=RegistryGroup,
    help="Blind human review: people judge a candidate's answers against a baseline's; results gate promotion.",
    no_args_is_help=True,
)
review_app.callback()(registry_options)

TenantOpt = Annotated[Optional[str], typer.Option("--tenant", envvar="ADAPTLAB_TENANT", help="tenant of names written without 'tenant/'")]
By = Annotated[Optional[str], typer.Option("--by", help="reviewer recorded as voting (local administrator acting for someone)")]
AsJson = Annotated[bool, typer.Option("--json", help="print JSON instead of tables")]
ReviewId = Annotated[int, typer.Argument(help="review set id (from `adaptlab review create` or `review list`)")]

console = Console()


@review_app.command("create")
def create_command(
    ctx: typer.Context,
    candidate: Annotated[Optional[str], typer.Argument(help="the version judged, NAME@vN or NAME@ALIAS (not with --compare)")] = None,
    against: Annotated[Optional[str], typer.Option("--against", help="the baseline version, e.g. NAME@production")] = None,
    prompts: Annotated[Optional[Path], typer.Option("--prompts", help="prompt file: JSONL/JSON/CSV/TSV/Parquet in any format adaptlab reads, answers optional")] = None,
    compare: Annotated[Optional[Path], typer.Option("--compare", help="instead: a comparison folder, whose held-out rows are the prompts")] = None,
    pair: Annotated[Optional[str], typer.Option("--pair", help="with --compare: CANDIDATE,BASELINE methods, e.g. lora,full")] = None,
    n: Annotated[Optional[int], typer.Option("--n", min=1, help="prompts in the set (default: all)")] = None,
    max_new_tokens: Annotated[int, typer.Option("--max-new-tokens", min=1, help="greedy decoding limit per answer")] = REVIEW_MAX_NEW_TOKENS,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="prompts answered together")] = REVIEW_BATCH_SIZE,
    format: Annotated[str, typer.Option("--format", help="prompt file format: auto, text, prompt_completion, alpaca, chat")] = "auto",
    max_bad_rows: Annotated[int, typer.Option("--max-bad-rows", min=0, help="bad prompt rows that may be skipped")] = 0,
    tenant: TenantOpt = None,
) -> None:
    """Generate both models' greedy answers once and store them as a review set."""
    reg, principal = open_registry(ctx)
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("answering (candidate, then baseline)", total=None)

        def advance(answered: int) -> None:
            progress.advance(task, answered)

        if compare is not None:
            if candidate or against or prompts:
                raise ConfigError("--compare takes its prompts and models from the comparison: leave out CANDIDATE, --against and --prompts")
            if not pair:
                raise ConfigError("--compare needs --pair CANDIDATE,BASELINE, e.g. --pair lora,full")
            methods = [name.strip() for name in pair.split(",")]
            record = reg.create_comparison_review(
                principal, compare, methods, n=n, max_new_tokens=max_new_tokens, batch_size=batch_size, tenant=tenant, on_batch=advance
            )
        else:
            if not (candidate and against and prompts):
                raise ConfigError("give CANDIDATE, --against BASELINE and --prompts FILE (or --compare DIR --pair A,B)")
            record = reg.create_review(
                principal, candidate, against, prompts, n=n, data_options=_data_options(format, max_bad_rows),
                max_new_tokens=max_new_tokens, batch_size=batch_size, tenant=tenant, on_batch=advance,
            )
    console.print(f"review set [bold]{record.review_id}[/]: {record.candidate} vs {record.baseline}, {record.items} items ({record.source})")
    console.print(f"reviewers: adaptlab review next {record.review_id} --token THEIR_TOKEN")


@review_app.command("list")
def list_command(ctx: typer.Context, tenant: TenantOpt = None, as_json: AsJson = False) -> None:
    """Review sets of the tenant, with everyone's and your progress."""
    reg, principal = open_registry(ctx)
    reviews = reg.list_reviews(principal, tenant=tenant)
    if as_json:
        typer.echo(json.dumps([progress.model_dump() for progress in reviews], indent=2))
        return
    from adaptlab.registry.review_display import reviews_table

    console.print(reviews_table(reviews))


@review_app.command("status")
def status_command(
    ctx: typer.Context,
    target: Annotated[str, typer.Argument(help="a review set id, or NAME@vN for every review set judging that version")],
    tenant: TenantOpt = None,
    as_json: AsJson = False,
) -> None:
    """Results: the candidate's win rate with its 95 % interval, votes per verdict and reviewer, agreement (kappa).
    A review of a comparison also refreshes that comparison's reports."""
    from adaptlab.registry.review_display import results_table

    reg, principal = open_registry(ctx)
    ids = [int(target)] if target.isdigit() else [p.review.review_id for p in reg.list_reviews(principal, ref=target, tenant=tenant)]
    results = [reg.review_results(principal, review_id) for review_id in ids]
    if as_json:
        typer.echo(json.dumps([result.model_dump(mode="json") for result in results], indent=2))
    elif not results:
        console.print(f"no review set judges {target}; create one with `adaptlab review create {target} --against BASELINE --prompts FILE`")
    for result in [] if as_json else results:
        console.print(results_table(result))
        folder = reg.publish_review(principal, result.review_id)
        if folder is not None:
            console.print(f"updated the reports in {folder}")


@review_app.command("next")
def next_command(
    ctx: typer.Context,
    review_id: ReviewId,
    limit: Annotated[int, typer.Option("--limit", min=1, help="items to show")] = 1,
    by: By = None,
    as_json: AsJson = False,
) -> None:
    """The next item(s) waiting for you, blind: the prompt and answers A and B (in your own order for each item)."""
    from adaptlab.registry.review_display import item_panel

    reg, principal = open_registry(ctx)
    queue = reg.next_review_items(principal, review_id, limit=limit, by=by)
    if as_json:
        typer.echo(queue.model_dump_json(indent=2))
        return
    if not queue.items:
        console.print(f"review {review_id}: nothing left for you ({queue.done} of {queue.total} done)")
    for view in queue.items:
        console.print(item_panel(view, queue.done, queue.total))


@review_app.command("vote")
def vote_command(
    ctx: typer.Context,
    review_id: ReviewId,
    item: Annotated[int, typer.Argument(help="item number, as `review next` shows it")],
    verdict: Annotated[str, typer.Argument(help="a (A better), b (B better), tie, or both_bad")],
    comment: Annotated[Optional[str], typer.Option("--comment", help="why, in a sentence")] = None,
    correct: Annotated[Optional[str], typer.Option("--correct", help="the answer it should have given (exported as a training row)")] = None,
    by: By = None,
) -> None:
    """Vote on an item once (a vote cannot be changed)."""
    verdict = verdict.strip().lower().replace("-", "_")
    if verdict not in BLIND_VERDICTS:
        raise ConfigError(f"verdict {verdict!r}: choose one of {', '.join(BLIND_VERDICTS)}")
    reg, principal = open_registry(ctx)
    receipt = reg.vote(principal, review_id, item, verdict, comment=comment, corrected_answer=correct, by=by)
    console.print(f"review {review_id}, item {item}: {verdict} recorded for {receipt.reviewer} ({receipt.done} of {receipt.total} done)")


@review_app.command("export")
def export_command(
    ctx: typer.Context,
    review_id: ReviewId,
    corrections: Annotated[Path, typer.Option("--corrections", help="JSONL file to write the corrected answers to, as training rows")],
) -> None:
    """Reviewers' corrected answers as training rows (prompt/completion, or chat rows for multi-turn prompts)."""
    reg, principal = open_registry(ctx)
    rows = reg.export_corrections(principal, review_id, corrections)
    console.print(f"wrote {rows} corrected answers of review {review_id} to {corrections}")


def _data_options(fmt: str, max_bad_rows: int):
    from pydantic import ValidationError

    from adaptlab.data.options import DataOptions

    try:
        return DataOptions(format=fmt, max_bad_rows=max_bad_rows)
    except ValidationError as exc:
        raise ConfigError(f"--format {fmt!r}: choose auto, text, prompt_completion, alpaca or chat") from exc


def register(app: typer.Typer) -> None:
    app.add_typer(review_app, name="review")
