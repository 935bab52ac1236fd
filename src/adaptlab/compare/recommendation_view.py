"""The recommendation as people read it: a terminal panel and table, and the section the reports open with."""

from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from adaptlab.compare.formatting import format_bytes, format_usd
from adaptlab.compare.recommend import CHOICE_LABELS, Constraints, Recommendation

BOUND_WORDS = {"point": "the point estimate", "lower": "the lower bound of its 95 % interval",
               "upper": "the upper bound of its 95 % interval"}


def title(recommendation: Recommendation) -> str:
    if recommendation.choice is None:
        return "No method meets the constraints"
    return f"Recommendation: {CHOICE_LABELS[recommendation.choice]}"


def constraints_summary(constraints: Constraints) -> list[str]:
    """Every constraint that was set, in words, with the figure of the interval it is checked on."""
    lines = [f"{constraints.tenants} tenant{'s' if constraints.tenants > 1 else ''} served from one deployment"]
    if constraints.memory_budget_bytes is not None:
        lines.append(f"memory budget {format_bytes(constraints.memory_budget_bytes)}")
    if constraints.min_quality is not None:
        lines.append(f"relative score at least {100 * constraints.min_quality:.1f}, checked on {BOUND_WORDS[constraints.quality_bound]}")
    if constraints.max_forgetting_percent is not None:
        lines.append(f"forgetting at most {constraints.max_forgetting_percent:.1f} %, checked on {BOUND_WORDS[constraints.forgetting_bound]}")
    if constraints.budget_usd is not None:
        lines.append(f"training budget {format_usd(constraints.budget_usd)} per run")
    return lines


def recommendation_table(recommendation: Recommendation) -> Table:
    marks = {"pass": "[green]✓[/]", "fail": "[red]✗[/]", "unchecked": "[yellow]?[/]"}
    constraints = [c for c in ("memory", "serving", "quality", "forgetting", "budget")
                   if any(check.constraint == c for cand in recommendation.candidates for check in cand.checks)]
    table = Table(title="constraints per candidate", title_justify="left", header_style="bold")
    table.add_column("candidate")
    for name in constraints:
        table.add_column(name, justify="center")
    table.add_column("verdict")
    for cand in recommendation.candidates:
        status = {check.constraint: marks[check.status] for check in cand.checks}
        verdict = "[bold green]recommended[/]" if cand.choice == recommendation.choice else ("fits" if cand.fits else "[red]fails[/]")
        table.add_row(CHOICE_LABELS[cand.choice], *(status.get(name, "") for name in constraints), verdict)
    return table


def print_recommendation(recommendation: Recommendation, console: Console) -> None:
    heading = f"[bold red]{title(recommendation)}[/]" if recommendation.choice is None else f"[bold]{title(recommendation)}[/]"
    body = "\n".join(recommendation.reasons)
    if recommendation.unchecked:
        body += "\n\nNot checked:\n" + "\n".join(f"  {line}" for line in recommendation.unchecked)
    basis = "measured comparison" if recommendation.basis == "comparison" else "dry-run estimates (nothing measured)"
    console.print(Panel(body, title=heading, subtitle=f"from {basis}", title_align="left", subtitle_align="left", expand=False), highlight=False)
    if recommendation.candidates and any(c.checks for c in recommendation.candidates):
        console.print(recommendation_table(recommendation))
