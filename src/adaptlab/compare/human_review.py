"""Human review results in words: for the comparison's reports and recommendation (a review set drawn from its
held-out rows, `adaptlab review create --compare`, whose results the registry stores in report.json as votes
arrive) and for `adaptlab review status`."""

from pathlib import Path

from adaptlab.compare.formatting import format_interval
from adaptlab.compare.schema import METHOD_LABELS, REPORT_JSON, Comparison, read_comparison
from adaptlab.errors import ArtifactError
from adaptlab.schemas.review import ReviewResults


def review_sentence(results: ReviewResults) -> str:
    """'LoRA better than Full FT in 55.0 % (95 % CI 41.2–68.0) of 36 judged votes (ties count half; 4 both bad left
    out); 3 reviewers, 40 votes on 20 items; agreement κ = 0.41 on 20 items judged twice or more.'"""
    candidate, baseline = (METHOD_LABELS.get(name, name) for name in (results.candidate, results.baseline))
    if results.win_rate is None:
        verdict = f"{candidate} vs {baseline}: no judged votes yet"
    else:
        rate = f"{100 * results.win_rate:.1f} % {format_interval(results.win_rate_interval, lambda value: f'{100 * value:.1f}')}".rstrip()
        verdict = f"{candidate} better than {baseline} in {rate} of {results.judged_votes} judged votes (ties count half"
        verdict += f"; {results.verdicts['both_bad']} both bad left out)" if results.verdicts["both_bad"] else ")"
    people = f"{len(results.reviewers)} reviewer{'s' if len(results.reviewers) != 1 else ''}"
    text = f"{verdict}; {people}, {results.votes} votes on {results.items} items"
    if results.kappa is not None:
        text += f"; agreement κ = {results.kappa:.2f} on {results.kappa_items} items judged twice or more"
    return text + "."


def human_review_lines(comparison: Comparison) -> list[str]:
    """One line per review set of this comparison that has votes."""
    return [f"Human review #{results.review_id} (blind): {review_sentence(results)}" for results in comparison.human_reviews if results.votes]


def earlier_human_reviews(folder: Path) -> list[ReviewResults]:
    """The human review results of an earlier report.json in `folder`, which a re-run of the comparison keeps."""
    if not (Path(folder) / REPORT_JSON).is_file():
        return []
    try:
        return read_comparison(folder).human_reviews
    except ArtifactError:
        return []
