import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from rich.console import Console

from adaptlab.compare import plots
from adaptlab.compare.plots import moving_average, report_charts, tokens_at_step
from adaptlab.compare.report import print_comparison_table, render_markdown, table, write_reports
from adaptlab.compare.schema import read_comparison
from adaptlab.schemas.run_record import Topology

FIXTURES = Path(__file__).parent / "fixtures"

DECISION_COLUMNS = [
    "Method", "Learning rate", "Trainable params", "Peak memory", "Train time", "Tokens/s", "Tokens seen", "Artifact",
    "Eval loss", "Perplexity", "Exact match", "Relative score", "Forgetting", "Cost / run",
]
EMPTY_CELL = re.compile(r"^(|–|-|None|nan|inf)$", re.IGNORECASE)


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def _markdown_rows(markdown: str) -> list[list[str]]:
    lines = [line for line in markdown.splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[2:]]


def test_writes_all_three_reports_with_every_column_filled(make_comparison, tmp_path):
    comparison = make_comparison(methods=("full", "lora", "qlora"))
    paths = write_reports(comparison, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html", "report.json", "report.md"]
    assert read_comparison(paths["json"]) == comparison

    header, rows = table(comparison)
    assert header == DECISION_COLUMNS
    markdown = paths["markdown"].read_text()
    md_rows = _markdown_rows(markdown)
    assert [row[0] for row in md_rows] == ["Full FT", "LoRA", "QLoRA"]
    for row in md_rows:
        assert len(row) == len(DECISION_COLUMNS)
        assert not [cell for cell in row if EMPTY_CELL.match(cell)], row
    assert md_rows[0][DECISION_COLUMNS.index("Relative score")] == "100.0"
    assert "2e-4 (swept)" in md_rows[1][1]
    assert "best of a sweep" in markdown and "1e-4 → 1.3100" in markdown


def test_reports_render_from_a_hand_made_comparison_without_curves(tmp_path):
    comparison = read_comparison(FIXTURES / "small_model.json")
    assert all(not r.loss_curve for r in comparison.methods)
    paths = write_reports(comparison, tmp_path)
    assert paths["html"].read_text().count("<svg") == 5


def test_html_is_self_contained_with_every_chart_and_row(make_comparison, tmp_path):
    comparison = make_comparison(methods=("full", "lora", "dora", "qlora"))
    html = write_reports(comparison, tmp_path)["html"].read_text()
    parser = _Tags()
    parser.feed(html)
    svg_ids = [attrs.get("id") for tag, attrs in parser.tags if tag == "svg"]
    assert svg_ids == ["chart-loss_curves", "chart-quality", "chart-peak_memory", "chart-train_time", "chart-forgetting"]
    assert [attrs["data-method"] for tag, attrs in parser.tags if tag == "tr" and "data-method" in attrs] == ["full", "lora", "dora", "qlora"]
    assert not re.search(r"https?://(?!www\.w3\.org/(2000/svg|1999/xlink)\")", html), "nothing outside is linked (SVG namespaces aside)"
    assert not [attrs for tag, attrs in parser.tags if tag in ("link", "script", "img", "iframe")]
    for label in ("Full FT train", "LoRA held-out", "QLoRA train"):
        assert label in html  # legend text stays text in the SVG


def test_without_full_fine_tuning_there_is_no_quality_chart_and_the_report_says_why(make_comparison, tmp_path):
    comparison = make_comparison(methods=("lora", "qlora"))
    charts = report_charts(comparison)
    assert "quality" not in charts and set(charts) == {"loss_curves", "peak_memory", "train_time", "forgetting"}
    markdown = render_markdown(comparison)
    assert "No full fine-tuning run in this comparison" in markdown
    assert "not available: the comparison has no full fine-tuning run" in markdown


def test_without_a_task_metric_the_column_is_left_out_and_the_score_is_loss_based(make_comparison):
    comparison = make_comparison(task_metric=False)
    header, rows = table(comparison)
    assert "Exact match" not in header
    assert "100 × exp(loss of full − loss of the method)" in render_markdown(comparison)


def test_unequal_token_budget_is_flagged(make_comparison):
    comparison = make_comparison()
    lora = comparison.result("lora").model_copy(update={"tokens_seen": 100})
    skewed = comparison.model_copy(update={"methods": [comparison.result("full"), lora]})
    assert "WARNING: LoRA saw a different count" in render_markdown(skewed)


def test_a_failed_render_leaves_the_previous_reports_whole(make_comparison, tmp_path, monkeypatch):
    first = make_comparison(methods=("full", "lora"))
    write_reports(first, tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}

    def broken_charts(comparison):
        raise RuntimeError("chart failed")

    monkeypatch.setattr(plots, "report_charts", broken_charts)
    with pytest.raises(RuntimeError):
        write_reports(make_comparison(methods=("full", "lora", "qlora")), tmp_path)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_terminal_table_lists_every_method_and_figure(make_comparison):
    console = Console(record=True, width=120)
    print_comparison_table(make_comparison(methods=("full", "lora", "qlora")), console)
    text = console.export_text()
    for expected in ("Full FT", "LoRA", "QLoRA", "Relative score", "100.0", "Forgetting", "Cost / run", "61,440"):
        assert expected in text
    assert "LoRA: relative score" in text


def test_report_rendering_is_deterministic(make_comparison, tmp_path):
    comparison = make_comparison()
    write_reports(comparison, tmp_path / "a")
    write_reports(comparison, tmp_path / "b")
    for name in ("report.json", "report.md", "report.html"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_moving_average_and_eval_token_positions(make_comparison):
    assert moving_average([1.0, 2.0, 3.0, 4.0], 2) == [1.5, 2.5, 3.5]
    assert moving_average([5.0], 1) == [5.0]
    lora = make_comparison().result("lora")
    assert tokens_at_step(lora, 20) == lora.loss_curve[19].tokens_seen
    assert tokens_at_step(lora, 0) == 0


def test_reports_open_with_the_recommendation_and_its_intervals(make_comparison, tmp_path):
    paths = write_reports(make_comparison(), tmp_path)
    markdown = paths["markdown"].read_text()
    assert markdown.index("## Recommendation: LoRA") < markdown.index("## Results") < markdown.index("| Method |")
    opening = markdown[: markdown.index("## Results")]
    assert "relative score at least 95.0, checked on the upper bound of its 95 % interval" in opening
    assert "LoRA relative score 96.2 (95 % CI" in opening and "cannot be told from full FT with 100 held-out examples" in opening
    html = paths["html"].read_text()
    assert html.index('id="recommendation"') < html.index('id="highlights"') < html.index('id="results"')
    assert "Recommendation: LoRA" in html and "cannot be told from full FT" in html


def test_reports_carry_the_users_constraints(make_comparison, tmp_path):
    from adaptlab.compare.recommend import Constraints

    paths = write_reports(make_comparison(), tmp_path, Constraints(min_quality=0.99, quality_bound="lower"), with_json=False)
    assert set(paths) == {"markdown", "html"} and not (tmp_path / "report.json").exists()
    markdown = paths["markdown"].read_text()
    assert "## Recommendation: Full FT" in markdown and "checked on the lower bound of its 95 % interval" in markdown


def test_quality_cells_carry_their_interval_and_the_setup_says_what_it_covers(make_comparison):
    comparison = make_comparison()
    header, rows = table(comparison)
    lora = rows[1]
    for column in ("Exact match", "Relative score", "Forgetting", "Eval loss"):
        assert re.search(r"\(.+–.+\)$", lora[header.index(column)]), (column, lora[header.index(column)])
    assert rows[0][header.index("Relative score")] == "100.0"
    markdown = render_markdown(comparison)
    assert "2,000 resamples, seed 0" in markdown and "cover the sampling of examples only" in markdown
    assert "LoRA: relative score 96.2 (95 % CI" in markdown and "exact McNemar test" in markdown


def test_quality_and_forgetting_bars_have_error_bars(make_comparison):
    comparison = make_comparison()
    without = comparison.model_copy(update={"methods": [r.model_copy(update={"intervals": type(r.intervals)()}) for r in comparison.methods]})
    with_bars, plain = report_charts(comparison), report_charts(without)
    for name in ("quality", "forgetting"):
        assert with_bars[name].count("<path") > plain[name].count("<path")
    assert with_bars["peak_memory"] == plain["peak_memory"]


def test_a_version_1_report_says_it_has_no_intervals():
    markdown = render_markdown(read_comparison(FIXTURES / "small_model.json"))
    assert "no intervals: this report (schema version 1)" in markdown
    assert "## Recommendation: LoRA" in markdown


def test_runs_trained_in_several_processes_show_their_topology(make_comparison):
    comparison = make_comparison()
    assert "Topology" not in table(comparison)[0]  # one process each: nothing to say
    sharded = comparison.result("full").model_copy(update={"topology": Topology(strategy="fsdp2", processes=4, nodes=2)})
    mixed = comparison.model_copy(update={"methods": [sharded, *comparison.methods[1:]]})
    header, rows = table(mixed)
    column = header.index("Topology")
    assert [row[column] for row in rows] == ["fsdp2 × 4, 2 nodes", "single", "single"]
    assert "sharded runs hold a part of the model each" in render_markdown(mixed)
