"""A realistic comparison built from measured-looking figures through the real pure functions (no report is hand-written)."""

import math
import random
from datetime import datetime, timezone

import numpy as np
import pytest

from adaptlab.compare.costs import cost_usd
from adaptlab.compare.schema import (
    BaseModelSummary,
    Comparison,
    DataFileSummary,
    DataSummary,
    LrTrial,
    MethodResult,
    PerExampleScores,
    PriceUsed,
    ReferenceSet,
    TaskMetricSetup,
    forgetting_percent,
    with_relative_scores,
)
from adaptlab.compare.uncertainty import uncertainty_setup, with_uncertainty
from adaptlab.schemas.run_record import EvalPoint, LossPoint

TOKEN_BUDGET = 61_440
PRICE_PER_HOUR_USD = 0.08925
# method: trainable params, peak memory bytes, train seconds, artifact bytes, final loss, exact match, reference loss after
FIGURES = {
    "full": (134_515_008, 2_950_000_000, 95.2, 538_090_408, 0.92, 0.80, 3.31),
    "lora": (4_884_480, 1_480_000_000, 78.4, 19_546_160, 1.01, 0.77, 2.93),
    "dora": (5_154_816, 1_620_000_000, 101.7, 20_627_504, 0.99, 0.78, 2.92),
    "qlora": (4_884_480, 1_050_000_000, 139.0, 19_546_160, 1.06, 0.74, 2.97),
}
TOTAL_BASE_PARAMS = 134_515_008
REFERENCE_LOSS_BEFORE = 2.85
EVAL_EXAMPLES = 100
REFERENCE_CHUNKS = 16


def recentred(values: np.ndarray, mean: float, tokens: np.ndarray) -> list[float]:
    """Per-example losses shifted so that their token-weighted mean is exactly `mean`."""
    return list(values - (np.sum(values * tokens) / np.sum(tokens) - mean))


def per_example_scores(method: str, exact: float | None, eval_loss: float, reference_after: float) -> PerExampleScores:
    rng = np.random.default_rng(sum(map(ord, method)))
    shared = np.random.default_rng(0)  # the examples are the same for every method
    eval_tokens, reference_tokens = shared.integers(5, 40, EVAL_EXAMPLES), np.full(REFERENCE_CHUNKS, 256)
    before = recentred(REFERENCE_LOSS_BEFORE + shared.normal(0.0, 0.3, REFERENCE_CHUNKS), REFERENCE_LOSS_BEFORE, reference_tokens)
    after = np.array(before) * reference_after / REFERENCE_LOSS_BEFORE + rng.normal(0.0, 0.02, REFERENCE_CHUNKS)
    hits = None if exact is None else [float(i < round(exact * EVAL_EXAMPLES)) for i in rng.permutation(EVAL_EXAMPLES)]
    return PerExampleScores(
        task_metric=hits,
        eval_losses=recentred(eval_loss + rng.normal(0.0, 0.4, EVAL_EXAMPLES), eval_loss, eval_tokens),
        eval_tokens=eval_tokens.tolist(),
        reference_losses_before=before,
        reference_losses_after=recentred(after, reference_after, reference_tokens),
        reference_tokens=reference_tokens.tolist(),
    )


def loss_curve(final_loss: float, seed: int, steps: int = 60) -> list[LossPoint]:
    rng = random.Random(seed)
    tokens_per_step = TOKEN_BUDGET // steps
    return [
        LossPoint(
            step=s,
            tokens_seen=s * tokens_per_step,
            loss=final_loss + 2.1 * math.exp(-s / 9) + rng.uniform(-0.08, 0.08),
            learning_rate=1e-4,
        )
        for s in range(1, steps + 1)
    ]


def method_result(method: str, task_metric: bool) -> MethodResult:
    trainable, memory, seconds, artifact, final_loss, exact, reference_after = FIGURES[method]
    total = TOTAL_BASE_PARAMS if method == "full" else TOTAL_BASE_PARAMS + trainable
    curve = loss_curve(final_loss, seed=len(method))
    eval_losses = {s: final_loss + 0.05 + 1.9 * math.exp(-s / 9) for s in (20, 40, 60)}
    eval_curve = [EvalPoint(step=s, loss=loss, perplexity=math.exp(loss)) for s, loss in eval_losses.items()]
    swept = method == "lora"
    return MethodResult(
        method=method,
        run_dir=f"runs/{method}",
        learning_rate=1e-5 if method == "full" else 2e-4,
        learning_rate_source="sweep" if swept else "method_default",
        lr_sweep=[LrTrial(learning_rate=lr, eval_loss=loss, tokens_seen=6_144) for lr, loss in ((1e-4, 1.31), (2e-4, 1.22), (5e-4, 1.27))] if swept else [],
        trainable_params=trainable,
        total_params=total,
        trainable_percent=100.0 * trainable / total,
        peak_memory_bytes=memory,
        peak_memory_kind="process_rss",
        train_time_s=seconds,
        tokens_per_s=TOKEN_BUDGET / seconds,
        tokens_seen=TOKEN_BUDGET,
        artifact_size_bytes=artifact,
        eval_loss=eval_curve[-1].loss,
        eval_perplexity=eval_curve[-1].perplexity,
        task_metric_value=exact if task_metric else None,
        reference_loss_before=REFERENCE_LOSS_BEFORE,
        reference_loss_after=reference_after,
        forgetting_percent=forgetting_percent(REFERENCE_LOSS_BEFORE, reference_after),
        cost_usd=cost_usd(seconds, PRICE_PER_HOUR_USD),
        loss_curve=curve,
        eval_curve=eval_curve,
        per_example=per_example_scores(method, exact if task_metric else None, eval_curve[-1].loss, reference_after),
    )


def build_comparison(methods=("full", "lora", "qlora"), task_metric: bool = True) -> Comparison:
    basis, results = with_relative_scores([method_result(m, task_metric) for m in methods])
    results = with_uncertainty(results, basis, seed=0)
    return Comparison(
        created_at=datetime(2026, 5, 1, 12, 0, tzinfo=timezone.utc),
        base_model=BaseModelSummary(
            spec="builtin:smollm2-135m", model_id="HuggingFaceTB/SmolLM2-135M-Instruct", weights_sha256="ab" * 32, weights_size_bytes=538_090_408
        ),
        data=DataSummary(
            files=[DataFileSummary(path="glossary_train.jsonl", sha256="cd" * 32, rows=480, role="train")],
            train_examples=432,
            eval_examples=EVAL_EXAMPLES,
            token_budget=TOKEN_BUDGET,
        ),
        seed=0,
        reference=ReferenceSet(description="built-in general English reference text", source="builtin", sha256="ef" * 32, tokens=4_096),
        task_metric=TaskMetricSetup(name="exact_match", chosen_by="auto", max_new_tokens=32, examples=EVAL_EXAMPLES) if task_metric else None,
        relative_score_basis=basis,
        price=PriceUsed(per_hour_usd=PRICE_PER_HOUR_USD, source="default for CPU: 2 vCPU × $0.044625/h (AWS c7i on-demand, us-east-1)"),
        hardware={"platform": "Linux-6.1-x86_64", "cpu": "x86_64", "cpu_cores": 2, "torch_threads": 2, "gpu": None},
        methods=results,
        uncertainty=uncertainty_setup(seed=0),
    )


@pytest.fixture
def make_comparison():
    return build_comparison
