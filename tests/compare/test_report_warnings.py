"""The report marks timings and costs that are not comparable, says why, and lists settings warnings with their sources."""

import io

from rich.console import Console

from adaptlab.compare.report import print_comparison_table, render_html, render_markdown, table, write_reports
from adaptlab.compare.schema import read_comparison
from adaptlab.compare.settings_checks import MethodSettings, settings_warnings

NOTE = "other work kept 1.2 of 2 cores busy on average while Full FT trained, 0.1 while LoRA did"


def marked_cells(comparison) -> list[str]:
    header, rows = table(comparison)
    return [f"{name}={row[i]}" for row in rows for i, name in enumerate(header) if row[i].endswith("†")]


def test_comparable_timings_carry_no_mark_and_no_warning(make_comparison):
    comparison = make_comparison()
    assert marked_cells(comparison) == []
    assert "## Warnings" not in render_markdown(comparison)


def test_not_comparable_timings_are_marked_and_explained(make_comparison, tmp_path):
    comparison = make_comparison().model_copy(update={"timing_notes": [NOTE]})
    assert {cell.split("=")[0] for cell in marked_cells(comparison)} == {"Train time", "Tokens/s", "Cost / run"}
    markdown = render_markdown(comparison)
    assert "## Warnings" in markdown and NOTE in markdown and "of its training time †" in markdown
    assert NOTE in render_html(comparison)
    write_reports(comparison, tmp_path)
    assert read_comparison(tmp_path).timing_notes == [NOTE]


def test_settings_warnings_are_listed_with_sources(make_comparison):
    found = settings_warnings([MethodSettings("Full FT", False, 1e-5, 10**8), MethodSettings("LoRA", True, 1e-5, 10**6)],
                              ["all-linear"], train_target_tokens=1000, rows_per_step=4)
    comparison = make_comparison().model_copy(update={"settings_warnings": found})
    markdown = render_markdown(comparison)
    assert "Settings: lora_learning_rate" in markdown and "LoRA Without Regret" in markdown
    log = io.StringIO()
    print_comparison_table(comparison, Console(file=log, width=300))
    assert "warning Settings: lora_learning_rate" in log.getvalue()
