"""`recommend` against hand-made comparisons (tests/compare/fixtures/*.json), one row per constraint.

small_model.json  full: 2.4e9 B peak, 540 MB model, score 100, forgetting 12 %, $0.050
                  lora: 1.3e9 B peak, 7.3 MB adapter, score 97, forgetting 3 %, $0.040
                  qlora: 0.8e9 B peak, 7.3 MB adapter, score 93, forgetting 4 %, $0.060
with_dora.json    adds dora: 1.4e9 B peak, score 98.5, forgetting 2.8 %, $0.055
no_full.json      lora and qlora only: no relative scores
"""

from pathlib import Path

import pytest

from adaptlab.compare.recommend import PREFERENCE, Constraints, DryRunEstimate, recommend
from adaptlab.compare.schema import read_comparison
from adaptlab.errors import ConfigError
from adaptlab.methods import METHODS, get_method

FIXTURES = Path(__file__).parent / "fixtures"
GiB = 1024**3

CASES = [
    # (id, fixture, constraints, expected choice, phrases the reasons must contain)
    ("defaults-pick-lora", "small_model", {}, "lora",
     ["LoRA relative score 97.0 ≥ 95.0 required", "QLoRA was not chosen: QLoRA relative score 93.0 < 95.0 required (short by 2.0 points)"]),
    ("memory-budget-rules-out-lora", "small_model", {"memory_budget_bytes": 1 * GiB, "min_quality": 0.9}, "qlora",
     ["QLoRA peak memory 762.9 MB ≤ budget 1.0 GB", "LoRA peak memory 1.2 GB > budget 1.0 GB (over by 215.8 MB, 21 %)",
      "Full FT peak memory 2.2 GB > budget 1.0 GB"]),
    ("quality-bar-needs-full", "small_model", {"min_quality": 0.98}, "full",
     ["Full FT relative score 100.0 ≥ 98.0 required", "LoRA was not chosen: LoRA relative score 97.0 < 98.0 required (short by 1.0 points)"]),
    ("quality-bar-met-by-dora", "with_dora", {"min_quality": 0.98}, "dora",
     ["DoRA relative score 98.5 ≥ 98.0 required", "LoRA relative score 97.0 < 98.0 required"]),
    ("many-tenants-prefer-hybrid-when-adapters-miss-quality", "small_model",
     {"min_quality": 0.98, "tenants": 20, "memory_budget_bytes": 8 * GiB}, "hybrid",
     ["serving 20 tenants with Full FT needs 20 × 515.0 MB models = 10.1 GB of weights > budget 8.0 GB (over by 2.1 GB, 26 %)",
      "serving 20 tenants with Hybrid needs 515.0 MB shared base + 20 × 7.0 MB adapters = 654.2 MB of weights ≤ budget 8.0 GB"]),
    ("many-tenants-without-memory-budget-still-lora", "small_model", {"tenants": 20}, "lora",
     ["Full FT also fits", "weights to serve 20 tenants 654.2 MB vs 10.1 GB",
      "Hybrid also fits, but LoRA comes first in the order of preference: relative score 97.0 vs 100.0 (estimated)"]),
    ("forgetting-limit-keeps-lora", "small_model", {"max_forgetting_percent": 3.5}, "lora",
     ["LoRA forgetting +3.0 % ≤ maximum 3.5 %", "Full FT was not chosen: Full FT forgetting +12.0 % > maximum 3.5 % (over by 8.5 points)"]),
    ("budget-keeps-lora", "small_model", {"budget_usd": 0.045}, "lora",
     ["LoRA cost per run $0.0400 ≤ budget $0.0450", "Full FT was not chosen: Full FT cost per run $0.0500 > budget $0.0450 (over by $0.0050, 11 %)"]),
    ("budget-allows-full", "small_model", {"min_quality": 0.98, "budget_usd": 0.055}, "full",
     ["Full FT cost per run $0.0500 ≤ budget $0.0550"]),
    ("nothing-fits-quality-vs-forgetting", "small_model", {"min_quality": 0.98, "max_forgetting_percent": 5}, None,
     ["Every candidate fails at least one constraint", "LoRA: LoRA relative score 97.0 < 98.0 required (short by 1.0 points)",
      "QLoRA: QLoRA relative score 93.0 < 98.0 required (short by 5.0 points)",
      "Full FT: Full FT forgetting +12.0 % > maximum 5.0 % (over by 7.0 points)"]),
    ("nothing-fits-budget", "small_model", {"budget_usd": 0.035}, None,
     ["LoRA: LoRA cost per run $0.0400 > budget $0.0350 (over by $0.0050, 14 %)", "Full FT: Full FT cost per run $0.0500 > budget $0.0350"]),
    ("memory-budget-and-default-quality-bar", "small_model", {"memory_budget_bytes": 1 * GiB}, None,
     ["LoRA: LoRA peak memory 1.2 GB > budget 1.0 GB", "QLoRA: QLoRA relative score 93.0 < 95.0 required (short by 2.0 points)"]),
    ("nothing-fits-memory-and-forgetting", "small_model", {"memory_budget_bytes": 1 * GiB, "max_forgetting_percent": 3.5, "min_quality": 0.9}, None,
     ["QLoRA: QLoRA forgetting +4.0 % > maximum 3.5 % (over by 0.5 points)", "LoRA: LoRA peak memory 1.2 GB > budget 1.0 GB"]),
    ("no-full-run-quality-unchecked", "no_full", {}, "lora", []),
]


@pytest.mark.parametrize(("fixture", "constraints", "choice", "phrases"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_recommend_obeys_each_constraint(fixture, constraints, choice, phrases):
    recommendation = recommend(read_comparison(FIXTURES / f"{fixture}.json"), Constraints(**constraints))
    assert recommendation.choice == choice, recommendation.reasons
    text = "\n".join(recommendation.reasons)
    for phrase in phrases:
        assert phrase in text


@pytest.mark.parametrize(("fixture", "constraints", "choice", "phrases"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_the_choice_passes_every_check_and_every_failure_says_by_how_much(fixture, constraints, choice, phrases):
    recommendation = recommend(read_comparison(FIXTURES / f"{fixture}.json"), Constraints(**constraints))
    for candidate in recommendation.candidates:
        if candidate.choice == choice:
            assert candidate.fits
        for check in candidate.failures:
            assert "over by" in check.detail or "short by" in check.detail, check.detail
    fitting = [c.choice for c in recommendation.candidates if c.fits]
    assert (fitting[0] if fitting else None) == choice  # the first fitting candidate in order of preference


def test_hybrid_is_a_candidate_only_for_several_tenants():
    comparison = read_comparison(FIXTURES / "small_model.json")
    assert "hybrid" not in [c.choice for c in recommend(comparison, Constraints()).candidates]
    assert [c.choice for c in recommend(comparison, Constraints(tenants=2)).candidates] == ["lora", "qlora", "hybrid", "full"]


def test_without_a_full_run_quality_is_reported_unchecked():
    recommendation = recommend(read_comparison(FIXTURES / "no_full.json"), Constraints(min_quality=0.99))
    assert recommendation.choice == "lora"
    assert recommendation.unchecked == [
        "minimum quality 99.0 (relative score): not checked — the comparison has no full fine-tuning run to score against; add `full` to --methods"
    ]


DRY_RUN = [
    DryRunEstimate(method="full", trainable_params=134_515_008, total_params=134_515_008, estimated_peak_memory_bytes=3 * GiB),
    DryRunEstimate(method="lora", trainable_params=4_884_480, total_params=139_399_488, estimated_peak_memory_bytes=int(1.5 * GiB)),
    DryRunEstimate(method="qlora", trainable_params=4_884_480, total_params=139_399_488, estimated_peak_memory_bytes=int(0.7 * GiB)),
]


def test_dry_run_estimates_check_memory_and_say_quality_cannot_be_checked():
    recommendation = recommend(None, Constraints(memory_budget_bytes=1 * GiB, max_forgetting_percent=5, budget_usd=1.0), DRY_RUN)
    assert recommendation.basis == "dry_run"
    assert recommendation.choice == "qlora"
    assert "QLoRA estimated peak memory 716.8 MB ≤ budget 1.0 GB" in "\n".join(recommendation.reasons)
    unchecked = "\n".join(recommendation.unchecked)
    assert "dry-run estimates carry no quality figures" in unchecked
    assert "maximum forgetting 5.0 %: not checked" in unchecked
    assert "budget $1.00 per run: not checked" in unchecked


def test_dry_run_serving_uses_estimated_sizes():
    recommendation = recommend(None, Constraints(tenants=10, memory_budget_bytes=4 * GiB), DRY_RUN)
    full = next(c for c in recommendation.candidates if c.choice == "full")
    assert [check.detail for check in full.failures] == [
        "serving 10 tenants with Full FT needs 10 × 513.1 MB models = 5.0 GB of weights > budget 4.0 GB (over by 1.0 GB, 25 %)"
    ]
    assert recommendation.choice == "lora"


def test_nothing_to_recommend_from():
    with pytest.raises(ConfigError, match="pass a comparison folder"):
        recommend(None, Constraints())


def _lora_with_interval(make_comparison, low, high, forgetting=(2.0, 4.0)):
    from adaptlab.stats.intervals import Interval

    comparison = make_comparison()
    lora = comparison.result("lora")
    intervals = lora.intervals.model_copy(update={"relative_score": Interval(low=low, high=high),
                                                  "forgetting_percent": Interval(low=forgetting[0], high=forgetting[1])})
    lora = lora.model_copy(update={"relative_score": 96.0, "forgetting_percent": 3.0, "intervals": intervals})
    return comparison.model_copy(update={"methods": [comparison.result("full"), lora]})


@pytest.mark.parametrize(
    ("min_quality", "bound", "passes", "phrase"),
    [
        (0.95, "upper", True, "LoRA relative score 96.0 (95 % CI 90.0–103.0), upper bound 103.0 ≥ 95.0 required"),
        (0.95, "lower", False, "LoRA relative score 96.0 (95 % CI 90.0–103.0), lower bound 90.0 < 95.0 required (short by 5.0 points)"),
        (0.95, "point", True, "LoRA relative score 96.0 (95 % CI 90.0–103.0) ≥ 95.0 required"),
        (0.99, "point", False, "< 99.0 required (short by 3.0 points)"),
        (0.99, "upper", True, "upper bound 103.0 ≥ 99.0 required"),
        (1.04, "upper", False, "upper bound 103.0 < 104.0 required (short by 1.0 points)"),
    ],
)
def test_quality_is_checked_on_the_chosen_bound_of_the_interval(make_comparison, min_quality, bound, passes, phrase):
    comparison = _lora_with_interval(make_comparison, 90.0, 103.0)
    recommendation = recommend(comparison, Constraints(min_quality=min_quality, quality_bound=bound))
    check = next(c for c in recommendation.candidates if c.choice == "lora").checks[0]
    assert (check.status == "pass") == passes
    assert phrase in check.detail
    assert recommendation.choice == ("lora" if passes else "full" if min_quality <= 1 else None)


@pytest.mark.parametrize(("bound", "passes"), [("lower", True), ("point", True), ("upper", False)])
def test_forgetting_is_checked_on_the_chosen_bound(make_comparison, bound, passes):
    comparison = _lora_with_interval(make_comparison, 90.0, 103.0, forgetting=(2.0, 4.0))
    recommendation = recommend(comparison, Constraints(max_forgetting_percent=3.5, forgetting_bound=bound))
    check = next(c for c in recommendation.candidates if c.choice == "lora").checks[-1]
    assert check.constraint == "forgetting" and (check.status == "pass") == passes
    assert "LoRA forgetting +3.0 % (95 % CI +2.0 %–+4.0 %)" in check.detail


def test_an_undecided_gap_says_how_many_examples_would_resolve_it(make_comparison):
    recommendation = recommend(make_comparison(), Constraints())
    text = "\n".join(recommendation.reasons)
    assert "LoRA relative score 96.2 (95 % CI" in text
    assert "cannot be told from full FT with 100 held-out examples (exact McNemar test, p = " in text
    assert "examples would resolve a 3-point gap" in text


def test_every_registered_method_is_a_candidate_adapters_before_whole_models():
    assert set(PREFERENCE) == set(METHODS) | {"hybrid"}
    hybrid = PREFERENCE.index("hybrid")
    assert all(get_method(name).shares_base == (index < hybrid) for index, name in enumerate(PREFERENCE) if name != "hybrid")


def _with_a_weight_tuner(fixture: str, adapter_bytes: int):
    """The fixture plus an IA3 row: LoRA's figures, a smaller artifact (IA3 is served merged)."""
    comparison = read_comparison(FIXTURES / f"{fixture}.json")
    lora = comparison.result("lora")
    ia3 = lora.model_copy(update={"method": "ia3", "artifact_size_bytes": adapter_bytes})
    return comparison.model_copy(update={"methods": [*comparison.methods, ia3]})


def test_serving_cost_ranks_before_storage_and_merged_adapters_serve_as_whole_models():
    comparison = _with_a_weight_tuner("small_model", adapter_bytes=100_000)
    recommendation = recommend(comparison, Constraints(tenants=3))
    assert [c.choice for c in recommendation.candidates] == ["lora", "qlora", "ia3", "hybrid", "full"]
    assert recommendation.choice == "lora"
    assert "lora → qlora → ia3 → hybrid → full" in recommendation.reasons[0]
    memory = recommend(comparison, Constraints(tenants=3, memory_budget_bytes=10**12))
    ia3_serving = next(c for c in memory.candidates if c.choice == "ia3").checks[1].detail
    assert "3 × " in ia3_serving and "merged models" in ia3_serving


def test_prefer_puts_the_named_candidates_first_the_others_in_the_default_order():
    comparison = _with_a_weight_tuner("with_dora", adapter_bytes=100_000)
    recommendation = recommend(comparison, Constraints(prefer=["ia3", "dora"]))
    assert [c.choice for c in recommendation.candidates] == ["ia3", "dora", "lora", "qlora", "full"]
    assert recommendation.choice == "ia3"
    assert "first candidate in the order of preference (ia3 → dora → lora → qlora → full)" in recommendation.reasons[0]


def test_prefer_refuses_unknown_candidates():
    with pytest.raises(ValueError, match=r"unknown candidates \['adapterhub'\]"):
        Constraints(prefer=["lora", "adapterhub"])
