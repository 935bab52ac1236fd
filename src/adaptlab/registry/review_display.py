"""What `adaptlab review` prints: Rich tables and panels, pure functions of the review entities."""

from rich.console import Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from adaptlab.compare.human_review import review_sentence
from adaptlab.registry.entities import ReviewItemView, ReviewProgress
from adaptlab.schemas.review import VERDICTS, ReviewResults

VERDICT_WORDS = {"candidate": "candidate better", "baseline": "baseline better", "tie": "tie", "both_bad": "both bad"}


def reviews_table(reviews: list[ReviewProgress], title: str = "review sets") -> Table:
    table = Table("id", "candidate", "baseline", "items", "votes", "yours", "source", "created", title=title)
    for progress in reviews:
        review = progress.review
        yours = f"{progress.my_votes}/{review.items}" if progress.may_review else "-"
        table.add_row(
            str(review.review_id), review.candidate, review.baseline, str(review.items), str(progress.votes), yours, review.source,
            f"{review.created_at[:19]} by {review.created_by}",
        )
    return table


def results_table(results: ReviewResults) -> Group:
    """The results in one sentence, then votes per verdict and per reviewer."""
    verdicts = Table("verdict", "votes", title=f"review {results.review_id}: {results.candidate} vs {results.baseline}", title_justify="left")
    for verdict in VERDICTS:
        verdicts.add_row(VERDICT_WORDS[verdict], str(results.verdicts[verdict]))
    reviewers = Table("reviewer", "votes")
    for reviewer, votes in results.reviewers.items():
        reviewers.add_row(reviewer, str(votes))
    return Group(Text(review_sentence(results)), verdicts, reviewers)


def item_panel(view: ReviewItemView, done: int, total: int) -> Panel:
    """One blind item: the prompt, then answers A and B."""
    prompt = Text()
    for message in view.prompt:
        prompt.append(f"{message.role}: ", style="bold")
        prompt.append(message.content + "\n")
    body = Group(prompt, Panel(Text(view.answer_a), title="A", title_align="left"), Panel(Text(view.answer_b), title="B", title_align="left"))
    title = f"review {view.review_id}, item {view.item} ({done} of {total} done)"
    subtitle = f"vote: adaptlab review vote {view.review_id} {view.item} a|b|tie|both_bad"
    return Panel(body, title=title, subtitle=subtitle, title_align="left", subtitle_align="left")
