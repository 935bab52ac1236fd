"""What the console's pages show, as pure functions of the registry's records: metric rows with their
intervals, each gate judged for a version, the model card split into metadata and safe HTML."""

from dataclasses import dataclass

from markdown_it import MarkdownIt

from adaptlab.registry.access import ALLOWED_ACTIONS, Action, Principal
from adaptlab.registry.entities import VersionRecord
from adaptlab.registry.gates import GateCheck, GatePolicy, gate_checks
from adaptlab.registry.lineage import missing_data_check_reasons
from adaptlab.schemas.review import ReviewResults
from adaptlab.stats.intervals import Interval

# CommonMark with tables; raw HTML in the card is shown as text, and link targets are checked (no javascript:).
_MARKDOWN = MarkdownIt("commonmark", {"html": False}).enable("table")
_FRONT_MATTER = "---\n"


@dataclass(frozen=True)
class MetricRow:
    name: str
    value: float
    interval: Interval | None
    source: str  # "evaluation.json" or "run.json"


@dataclass(frozen=True)
class RenderedCard:
    metadata_yaml: str
    body_html: str


def may(principal: Principal, action: Action) -> bool:
    """Whether to offer `action` to the principal in its own tenant (the registry checks again on submit)."""
    return action in ALLOWED_ACTIONS[principal.role]


def metric_rows(record: VersionRecord) -> list[MetricRow]:
    """Every gate metric of the version; evaluation.json's first, each with its interval where one was measured."""
    measured = record.lineage.evaluation_metrics
    intervals = record.lineage.evaluation_intervals
    rows = [MetricRow(name, value, intervals.get(name), "evaluation.json") for name, value in sorted(measured.items())]
    return rows + [MetricRow(name, value, None, "run.json") for name, value in sorted(record.metrics.items()) if name not in measured]


def version_gate_checks(policy: GatePolicy, record: VersionRecord, review: ReviewResults | None) -> list[GateCheck]:
    """Each gate judged for the version; `review`: its newest review set's results as candidate (the review gate's input)."""
    approvers = [approval.approver for approval in record.approvals]
    missing = missing_data_check_reasons(record.lineage.data)
    return gate_checks(policy, record.metrics, approvers, record.created_by, review, missing)


def render_card(card_markdown: str) -> RenderedCard:
    """A model card (YAML metadata between `---` lines, then Markdown) as the metadata text and the body's HTML."""
    metadata, body = "", card_markdown
    if card_markdown.startswith(_FRONT_MATTER):
        metadata, separator, rest = card_markdown[len(_FRONT_MATTER) :].partition("\n" + _FRONT_MATTER)
        metadata, body = (metadata, rest) if separator else ("", card_markdown)
    return RenderedCard(metadata_yaml=metadata.strip(), body_html=_MARKDOWN.render(body))
