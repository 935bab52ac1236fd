"""`compare --staged`: what a method's run meets, and what the methods it did not train would have cost.

A skipped method's training time is scaled from a trained run of the same comparison (same base, data,
token budget and machine) by training compute per token: about 2·N for the forward pass and 2·N for the
backward pass through the activations of a base with N parameters, plus 2·T for the weight gradients of
its T trainable parameters (Kaplan et al. 2020, "Scaling Laws for Neural Language Models", §2.1). So full
fine-tuning (T = N) costs about 6·N per token and a LoRA-family method about 4·N. A skipped adapter's T is
taken from a trained adapter when there is one, else as 0 (an adapter is a few percent of the base).
QLoRA's dequantization overhead is not modelled, so its estimate is low. Cost = time × the price per hour.
"""

from collections.abc import Sequence

from adaptlab.compare.costs import cost_usd
from adaptlab.compare.schema import (
    MethodResult,
    SkippedMethod,
    StagedCheck,
    StagedOutcome,
)
from adaptlab.compare.target import Target, check_target
from adaptlab.compare.uncertainty import intervals
from adaptlab.methods import get_method


def target_check(target: Target, result: MethodResult, seed: int) -> StagedCheck:
    """The target checked on the run's own figure and its interval (no full fine-tuning needed)."""
    own = intervals(result.seed_scores(), None, seed)
    point, interval = {
        "eval_loss": (result.eval_loss, own.eval_loss),
        "forgetting_percent": (result.forgetting_percent, own.forgetting_percent),
    }.get(target.figure, (result.task_metric_value, own.task_metric))
    check = check_target(target, point, interval)
    return StagedCheck(method=result.method, value=check.value, bound=check.bound, met=check.met)


def base_parameters(result: MethodResult) -> int:
    """N: the base's own parameters, the trained model's total less what its method adds."""
    return result.total_params - get_method(result.method).total_parameters(0, result.trainable_params)


def training_compute_per_token(base_params: int, trainable_params: int) -> int:
    """Forward and activation-backward over the whole base, weight gradients over the trainable parameters."""
    return 4 * base_params + 2 * trainable_params


def estimated_skipped(method: str, trained: Sequence[MethodResult], price_per_hour_usd: float) -> SkippedMethod:
    """The skipped method's time and cost, scaled from the last trained run by compute per token."""
    reference = trained[-1]
    base_params = base_parameters(reference)
    adapters = [r.trainable_params for r in trained if get_method(r.method).shares_base]
    if get_method(method).shares_base:
        trainable = adapters[-1] if adapters else 0
    else:
        trainable = base_params
    ratio = training_compute_per_token(base_params, trainable) / training_compute_per_token(base_params, reference.trainable_params)
    seconds = reference.train_time_s * ratio
    return SkippedMethod(
        method=method,
        estimated_train_time_s=seconds,
        estimated_cost_usd=cost_usd(seconds, price_per_hour_usd),
        estimated_from=f"{reference.label}'s measured training time × {ratio:.2f} (training compute per token, 4·N + 2·trainable)",
    )


def staged_outcome(
    order: Sequence[str], target: Target, forced: bool, checks: Sequence[StagedCheck], trained: Sequence[MethodResult],
    price_per_hour_usd: float,
) -> StagedOutcome:
    """What the staged comparison did: the checks, the first method that met the target, the estimated savings."""
    met_by = next((check.method for check in checks if check.met), None)
    trained_names = {r.method for r in trained}
    return StagedOutcome(
        order=list(order),
        target=str(target),
        forced=forced,
        checks=list(checks),
        met_by=met_by,
        skipped=[estimated_skipped(method, trained, price_per_hour_usd) for method in order if method not in trained_names],
    )
