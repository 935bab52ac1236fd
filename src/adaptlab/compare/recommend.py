"""`adaptlab recommend`: which method to use, from a comparison (or dry-run estimates) and the user's constraints.

Every candidate — each measured method (the hybrid "full FT of a shared base, LoRA per tenant" among them
when `compare --methods ...,hybrid --base-data` measured it), plus, when more than one tenant is served and the
hybrid was not measured, an estimate of it from full fine-tuning's figures — is checked against every constraint that was set, and each
check states the figure behind it. The recommendation is the first candidate that passes them all
in the order of preference: cheapest to serve first (the method's serving mode, adaptlab.methods.base:
per-row adapters on one shared base, then adapters served merged one per deployment, then adapters
adaptlab cannot serve, then the hybrid, then whole models), then the smallest artifact (storage), then
registry order (adaptlab.methods.METHODS). Without sizes (the static order, PREFERENCE) today that is

    lora → qlora → dora → ia3 → loha → lokr → oft → vera → prompt → prefix → hybrid → full

LoRA leads because its adapters are small, swap per request row and train fastest; QLoRA trades speed
and a lossy 4-bit base for the least memory; DoRA and the other weight tuners (IA3, LoHa, LoKr, OFT, VeRA)
are served merged, one deployment per adapter; prompt and prefix tuning change the input and have no
server path here; the hybrid and full fine-tuning keep every weight trainable and are chosen when the
adapters miss a constraint (usually quality). `--prefer a,b` puts those candidates first, in that order,
the others following in the default order. The constraints decide, the order only breaks ties.

Quality and forgetting are measured on a sample of examples, so they are checked against a bound of
their 95 % interval (`quality_bound`, `forgetting_bound`): by default a candidate fails only when the
whole interval misses (quality: the upper bound is below the requirement; forgetting: the lower bound
is above the limit), i.e. when the data rule it out. `lower` for quality / `upper` for forgetting asks
the data to prove the constraint instead; `point` ignores the interval. Memory, serving and cost are
measured once, not sampled: they are checked on the figure itself. Without an interval (a schema
version 1 report, or too few examples) the point is used.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from adaptlab.compare.formatting import format_bytes, format_usd, format_with_interval
from adaptlab.compare.human_review import human_review_lines
from adaptlab.compare.schema import METHOD_LABELS, Comparison, Method, TunedBaseSummary, VersusFull
from adaptlab.compare.serving import ServingWeights, serving_weights
from adaptlab.errors import ConfigError
from adaptlab.methods import METHODS, get_method
from adaptlab.stats.intervals import Interval

Choice = str  # a method name (the hybrid is one too)
Constraint = Literal["memory", "serving", "quality", "forgetting", "budget"]
Bound = Literal["point", "lower", "upper"]
HYBRID: Choice = next(name for name, method in METHODS.items() if method.tuned_base_method)
HYBRID_SERVING_COST_RANK = 3  # one shared whole model plus per-row adapters: dearer than adapters, cheaper than a model per tenant


def serving_cost_rank(choice: Choice) -> int:
    method = get_method(choice)
    return HYBRID_SERVING_COST_RANK if method.tuned_base_method else method.serving_cost_rank


PREFERENCE: tuple[Choice, ...] = tuple(sorted(METHODS, key=serving_cost_rank))  # stable: registry order within a rank
CHOICE_LABELS = METHOD_LABELS
TEST_NAMES = {"mcnemar_exact": "exact McNemar test", "paired_bootstrap": "paired bootstrap"}
CHOICE_DESCRIPTIONS = {name: method.description for name, method in METHODS.items()}


class Constraints(BaseModel):
    model_config = ConfigDict(extra="forbid")

    memory_budget_bytes: int | None = Field(
        None, gt=0, description="training peak memory must fit; with more than one tenant, so must the weights to serve them all"
    )
    tenants: int = Field(1, ge=1, description="tenants or variants served from one deployment")
    min_quality: float | None = Field(0.95, gt=0, description="relative score ≥ 100 × this (0.95: at least 95 % of full fine-tuning)")
    max_forgetting_percent: float | None = Field(None, description="forgetting (relative reference-loss increase, %) at most this")
    budget_usd: float | None = Field(None, ge=0, description="cost of one training run at most this")
    quality_bound: Bound = Field(
        "upper", description="which figure of the relative score's 95 % interval must meet --min-quality: upper (fail only when "
                             "the whole interval is below), lower (the whole interval must be above), or the point"
    )
    forgetting_bound: Bound = Field(
        "lower", description="which figure of forgetting's 95 % interval must meet --max-forgetting: lower (fail only when "
                             "the whole interval is above), upper (the whole interval must be below), or the point"
    )
    prefer: list[str] = Field([], description="candidates to try first, in this order (e.g. lora,ia3); the others follow in the default order")

    @field_validator("prefer")
    @classmethod
    def _known_choices(cls, prefer: list[str]) -> list[str]:
        unknown = [name for name in prefer if name not in PREFERENCE]
        if unknown:
            raise ValueError(f"unknown candidates {unknown}; choose from {', '.join(PREFERENCE)}")
        return prefer


class DryRunEstimate(BaseModel):
    """What `adaptlab train --dry-run` knows without training: sizes and estimated memory, no quality."""

    model_config = ConfigDict(extra="forbid")

    method: Method
    trainable_params: int = Field(ge=0)
    total_params: int = Field(gt=0)
    estimated_peak_memory_bytes: int = Field(ge=0)

    @property
    def artifact_size_bytes(self) -> int:
        """fp32 safetensors: the trainable parameters of an adapter, every parameter of a whole model."""
        return 4 * (self.trainable_params if get_method(self.method).shares_base else self.total_params)

    @property
    def base_size_bytes(self) -> int:
        """fp32 weights of the base alone: the total less what an adapter adds to it."""
        return 4 * (self.total_params - self.trainable_params if get_method(self.method).shares_base else self.total_params)


class Check(BaseModel):
    constraint: Constraint
    status: Literal["pass", "fail", "unchecked"]
    detail: str = Field(description="the figure behind the verdict, and by how much it misses when it fails")


class Candidate(BaseModel):
    choice: Choice
    checks: list[Check]

    @property
    def fits(self) -> bool:
        return all(check.status != "fail" for check in self.checks)

    @property
    def failures(self) -> list[Check]:
        return [check for check in self.checks if check.status == "fail"]


class Recommendation(BaseModel):
    choice: Choice | None = Field(description="None when no candidate meets the constraints")
    basis: Literal["comparison", "dry_run"]
    constraints: Constraints
    reasons: list[str]
    unchecked: list[str] = Field(description="constraints that could not be checked, and why")
    candidates: list[Candidate]


@dataclass(frozen=True)
class Figures:
    """One candidate's figures, measured or estimated, in the units the checks compare."""

    choice: Choice
    shares_base: bool
    peak_memory_bytes: int
    serving_bytes: int
    serving_formula: str
    relative_score: float | None
    forgetting_percent: float | None
    cost_usd: float | None
    estimated: bool
    artifact_size_bytes: int
    relative_score_interval: Interval | None = None
    forgetting_interval: Interval | None = None
    versus_full: VersusFull | None = None
    on_tuned_base: bool = False  # trains on a fine-tuned shared base: two runs (the base's, the adapter's)
    quality_note: str = ""  # where the quality figure comes from, when it is not the candidate's own measurement
    cost_what: str = "cost per run"

    @property
    def label(self) -> str:
        return CHOICE_LABELS[self.choice]

    @property
    def quality_estimated(self) -> bool:
        return bool(self.quality_note)


def recommend(
    comparison: Comparison | None, constraints: Constraints, dry_run_estimates: Sequence[DryRunEstimate] | None = None
) -> Recommendation:
    """Check every candidate against the constraints and pick the first that meets them all (see the module docstring)."""
    if comparison is not None:
        figures, basis = _measured_figures(comparison, constraints.tenants), "comparison"
        missing_quality = "the comparison has no full fine-tuning run to score against; add `full` to --methods"
    elif dry_run_estimates:
        figures, basis = _estimated_figures(dry_run_estimates, constraints.tenants), "dry_run"
        missing_quality = "dry-run estimates carry no quality figures; run `adaptlab compare` to measure them"
    else:
        raise ConfigError("nothing to recommend from: pass a comparison folder (adaptlab compare --out) or dry-run estimates")
    figures = sorted(figures, key=preference_key(constraints.prefer))
    order = [f.choice for f in figures]
    candidates = [Candidate(choice=f.choice, checks=checks(f, constraints, missing_quality)) for f in figures]
    chosen = next((c for c in candidates if c.fits), None)
    by_choice = {f.choice: f for f in figures}
    if chosen is None:
        reasons = ["Every candidate fails at least one constraint:"] + [
            f"{CHOICE_LABELS[c.choice]}: " + "; ".join(check.detail for check in c.failures) for c in candidates
        ]
    else:
        reasons = _reasons_for(chosen, candidates, by_choice, constraints.tenants, order)
    if comparison is not None:
        reasons += human_review_lines(comparison)  # what people judged, beside what was measured (the reports open with these reasons)
    unchecked = sorted({check.detail for c in candidates for check in c.checks if check.status == "unchecked"})
    return Recommendation(
        choice=None if chosen is None else chosen.choice,
        basis=basis,
        constraints=constraints,
        reasons=reasons,
        unchecked=unchecked,
        candidates=candidates,
    )


def preference_key(prefer: Sequence[str]) -> Callable[[Figures], tuple]:
    """Sort key of the order of preference: the user's --prefer list first, then serving cost, artifact size, registry order."""
    def key(f: Figures) -> tuple:
        preferred = prefer.index(f.choice) if f.choice in prefer else len(prefer)
        return preferred, serving_cost_rank(f.choice), f.artifact_size_bytes, PREFERENCE.index(f.choice)
    return key


def checks(f: Figures, constraints: Constraints, missing_quality: str) -> list[Check]:
    """The verdict of every constraint that was set, each with its figure."""
    result: list[Check] = []
    if constraints.memory_budget_bytes is not None:
        result += _memory_checks(f, constraints.memory_budget_bytes, constraints.tenants)
    if constraints.min_quality is not None:
        result.append(_quality_check(f, 100.0 * constraints.min_quality, constraints.quality_bound, missing_quality))
    if constraints.max_forgetting_percent is not None:
        result.append(_forgetting_check(f, constraints.max_forgetting_percent, constraints.forgetting_bound))
    if constraints.budget_usd is not None:
        result.append(_budget_check(f, constraints.budget_usd))
    return result


def _memory_checks(f: Figures, budget: int, tenants: int) -> list[Check]:
    """Training must fit; with several tenants, so must the weights that serve them all."""
    limit = f"budget {format_bytes(budget)}"
    estimated = "estimated " if f.estimated else ""
    largest = " (its largest run)" if f.on_tuned_base else ""
    result = [_limit_check("memory", f"{f.label} {estimated}peak memory{largest} {format_bytes(f.peak_memory_bytes)}",
                           f.peak_memory_bytes, budget, limit, format_bytes)]
    if tenants > 1:
        result.append(_limit_check("serving", f"serving {tenants} tenants with {f.label} needs {f.serving_formula}",
                                   f.serving_bytes, budget, limit, format_bytes))
    return result


def _quality_check(f: Figures, required_score: float, bound: Bound, missing_quality: str) -> Check:
    if f.relative_score is None:
        return Check(constraint="quality", status="unchecked",
                     detail=f"minimum quality {required_score:.1f} (relative score): not checked — {missing_quality}")
    score, which = bounded(f.relative_score, f.relative_score_interval, bound)
    passed = score >= required_score
    detail = (f"{f.label} relative score {format_with_interval(f.relative_score, f.relative_score_interval, _points)}{which}"
              f" {'≥' if passed else '<'} {required_score:.1f} required")
    detail += f.quality_note
    if not passed:
        detail += f" (short by {required_score - score:.1f} points)"
    return Check(constraint="quality", status="pass" if passed else "fail", detail=detail + versus_full_text(f.versus_full))


def versus_full_text(versus: VersusFull | None) -> str:
    """The paired test's verdict in words, with the examples a gap would need when it cannot tell."""
    if versus is None:
        return ""
    test = versus.test
    p_value = f"{TEST_NAMES[test.test]}, p = {test.p_value:.2g}"
    sample = f"{test.examples:,} held-out examples" + (f" and {versus.seeds} training seeds" if versus.seeds > 1 else "")
    if test.verdict == "indistinguishable":
        text = f"; cannot be told from full FT with {sample} ({p_value})"
        if versus.examples_to_resolve_gap is not None:
            text += f"; about {versus.examples_to_resolve_gap:,} examples would resolve a {versus.gap_points:g}-point gap"
        return text
    return f"; {test.verdict} than full FT on {sample} ({p_value})"


def _forgetting_check(f: Figures, limit: float, bound: Bound) -> Check:
    if f.forgetting_percent is None:
        return Check(constraint="forgetting", status="unchecked",
                     detail=f"maximum forgetting {limit:.1f} %: not checked — forgetting is measured only by `adaptlab compare`")
    forgetting, which = bounded(f.forgetting_percent, f.forgetting_interval, bound)
    figure = f"{f.label} forgetting {format_with_interval(f.forgetting_percent, f.forgetting_interval, _percent)}{which}"
    return _limit_check("forgetting", figure, forgetting, limit, f"maximum {limit:.1f} %", lambda points: f"{points:.1f} points")


def bounded(point: float, interval: Interval | None, bound: Bound) -> tuple[float, str]:
    """The figure a constraint is checked on, and the words that say which one it is ("" for the point)."""
    if interval is None or bound == "point":
        return point, ""
    value = interval.low if bound == "lower" else interval.high
    return value, f", {bound} bound {value:.1f}"


def _points(value: float) -> str:
    return f"{value:.1f}"


def _percent(value: float) -> str:
    return f"{value:+.1f} %"


def _budget_check(f: Figures, budget_usd: float) -> Check:
    if f.cost_usd is None:
        return Check(constraint="budget", status="unchecked",
                     detail=f"budget {format_usd(budget_usd)} per run: not checked — training time is measured only by `adaptlab compare`")
    return _limit_check("budget", f"{f.label} {f.cost_what} {format_usd(f.cost_usd)}", f.cost_usd, budget_usd,
                        f"budget {format_usd(budget_usd)}", format_usd)


def _limit_check(constraint: Constraint, figure: str, value: float, limit: float, limit_text: str, fmt: Callable[[float], str]) -> Check:
    """`value` must not exceed `limit`; a failure says by how much (absolute, and relative for sizes and money)."""
    if value <= limit:
        return Check(constraint=constraint, status="pass", detail=f"{figure} ≤ {limit_text}")
    over = f"over by {fmt(value - limit)}"
    if limit > 0 and constraint != "forgetting":
        over += f", {100.0 * (value - limit) / limit:.0f} %"
    return Check(constraint=constraint, status="fail", detail=f"{figure} > {limit_text} ({over})")


def _measured_figures(comparison: Comparison, tenants: int) -> list[Figures]:
    base_bytes = comparison.base_model.weights_size_bytes
    figures = {}
    for r in comparison.methods:
        measured = replace(
            _method_figures(r.method, r.peak_memory_bytes, r.artifact_size_bytes, base_bytes, tenants,
                            r.relative_score, r.forgetting_percent, r.cost_usd, estimated=False),
            relative_score_interval=r.intervals.relative_score, forgetting_interval=r.intervals.forgetting_percent,
            versus_full=r.versus_full,
        )
        tuned = comparison.tuned_base
        figures[r.method] = measured if tuned is None or not get_method(r.method).tuned_base_method else _on_tuned_base(measured, tuned, tenants)
    return _with_hybrid(figures, tenants)


def _on_tuned_base(adapter: Figures, tuned: TunedBaseSummary, tenants: int) -> Figures:
    """A measured hybrid: its adapter's own quality, plus the shared base's run in memory, cost and serving."""
    serving = serving_weights(tenants, adapter.artifact_size_bytes, tuned.artifact_size_bytes, "fine-tuned base")
    return replace(
        adapter, on_tuned_base=True, peak_memory_bytes=max(adapter.peak_memory_bytes, tuned.peak_memory_bytes),
        serving_bytes=serving.bytes, serving_formula=serving.formula,
        cost_usd=None if adapter.cost_usd is None else adapter.cost_usd + tuned.cost_usd,
        cost_what="cost of the shared base's run plus this client's adapter",
    )


def _estimated_figures(estimates: Sequence[DryRunEstimate], tenants: int) -> list[Figures]:
    base_bytes = estimates[0].base_size_bytes
    figures = {
        e.method: _method_figures(e.method, e.estimated_peak_memory_bytes, e.artifact_size_bytes, base_bytes, tenants,
                                  None, None, None, estimated=True)
        for e in estimates
    }
    return _with_hybrid(figures, tenants)


def _method_figures(
    method: Method, peak_memory_bytes: int, artifact_bytes: int, base_bytes: int, tenants: int,
    relative_score: float | None, forgetting: float | None, cost: float | None, *, estimated: bool,
) -> Figures:
    """Serving weights for N tenants: one shared base plus N adapters, N merged models (adapters served merged),
    or a whole model per tenant."""
    fine_tuning = get_method(method)
    shares_base = fine_tuning.shares_base
    if fine_tuning.serving == "merged":
        total = tenants * base_bytes  # each adapter folded into its own copy of the base
        serving = ServingWeights(total, f"{tenants} × {format_bytes(base_bytes)} merged models (served merged, one per deployment) = "
                                        f"{format_bytes(total)} of weights")
    else:
        serving = serving_weights(tenants, artifact_bytes, base_bytes if shares_base else None)
    return Figures(choice=method, shares_base=shares_base, peak_memory_bytes=peak_memory_bytes, serving_bytes=serving.bytes,
                   serving_formula=serving.formula, relative_score=relative_score, forgetting_percent=forgetting, cost_usd=cost,
                   estimated=estimated, artifact_size_bytes=artifact_bytes)


def _with_hybrid(figures: dict[str, Figures], tenants: int) -> list[Figures]:
    """The candidates in order of preference; when several tenants share a deployment and the hybrid was not
    measured, an estimate of it: full fine-tuning's quality and forgetting, a per-row adapter's size on its base."""
    adapter = next((figures[c] for c in PREFERENCE if c in figures and c != HYBRID and get_method(c).serving == "per_row"), None)
    full = next((f for f in figures.values() if not f.shares_base), None)  # the hybrid's shared base is full fine-tuning's
    if HYBRID not in figures and tenants > 1 and full is not None and adapter is not None:
        serving = serving_weights(tenants, adapter.artifact_size_bytes, full.artifact_size_bytes, "shared base")
        figures[HYBRID] = Figures(
            choice=HYBRID,
            shares_base=True,
            on_tuned_base=True,
            peak_memory_bytes=max(full.peak_memory_bytes, adapter.peak_memory_bytes),
            serving_bytes=serving.bytes,
            serving_formula=serving.formula,
            relative_score=full.relative_score,
            forgetting_percent=full.forgetting_percent,
            forgetting_interval=full.forgetting_interval,
            quality_note=" (estimated: the shared base's score; measure the per-tenant adapters with "
                         "`adaptlab compare --methods full,lora,hybrid --base-data ...`)",
            cost_usd=None if full.cost_usd is None or adapter.cost_usd is None else max(full.cost_usd, adapter.cost_usd),
            cost_what="costliest run (full FT of the base)",
            estimated=full.estimated,
            artifact_size_bytes=adapter.artifact_size_bytes,
        )
    return list(figures.values())


def _reasons_for(chosen: Candidate, candidates: list[Candidate], by_choice: dict[str, Figures], tenants: int, order: list[str]) -> list[str]:
    mine = by_choice[chosen.choice]
    passed = [check.detail for check in chosen.checks if check.status == "pass"]
    reasons = [f"{CHOICE_DESCRIPTIONS[chosen.choice]} is the first candidate in the order of preference ({' → '.join(order)}) "
               "that meets every constraint"
               + (":" if passed else "; none could be checked.")]
    reasons += [f"  {detail}" for detail in passed]
    for other in candidates:
        if other is chosen:
            continue
        theirs = by_choice[other.choice]
        if not other.fits:
            reasons.append(f"{theirs.label} was not chosen: " + "; ".join(check.detail for check in other.failures))
        elif order.index(other.choice) > order.index(chosen.choice):
            differences = _side_by_side(mine, theirs, tenants)
            reasons.append(f"{theirs.label} also fits, but {mine.label} comes first in the order of preference"
                           + (": " + ", ".join(differences) if differences else "."))
    return reasons


def _side_by_side(mine: Figures, theirs: Figures, tenants: int) -> list[str]:
    """The figures that separate two candidates, chosen one first; an estimated figure (the hybrid's quality is the
    shared base's, a dry run's memory and sizes) says so beside a measured one."""
    figures = [  # (name, attribute, format, the flag that marks the figure estimated)
        ("relative score", "relative_score", lambda v: f"{v:.1f}", "quality_estimated"),
        ("peak memory", "peak_memory_bytes", format_bytes, "estimated"),
        ("artifact", "artifact_size_bytes", format_bytes, "estimated"),
        ("forgetting", "forgetting_percent", lambda v: f"{v:+.1f} %", "quality_estimated"),
        ("cost per run", "cost_usd", format_usd, None),
    ]
    if tenants > 1:
        figures.append((f"weights to serve {tenants} tenants", "serving_bytes", format_bytes, "estimated"))
    lines = []
    for name, attribute, fmt, flag in figures:
        values = [(candidate, getattr(candidate, attribute)) for candidate in (mine, theirs)]
        if any(value is None for _, value in values) or fmt(values[0][1]) == fmt(values[1][1]):
            continue
        shown = [fmt(value) + (" (estimated)" if flag and getattr(candidate, flag) else "") for candidate, value in values]
        lines.append(f"{name} {shown[0]} vs {shown[1]}")
    return lines
