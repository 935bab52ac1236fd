"""`compare --target`: the figure a staged comparison must reach, e.g. `accuracy>=0.85` or `eval_loss<=1.2`.

A target names a figure every run has on its own, without a full fine-tuning run to compare to: a task
metric (a fraction 0..1, higher is better), the held-out loss or forgetting (%, lower is better). A run meets
it when the pessimistic end of the figure's 95 % interval does: the lower bound for a higher-is-better
figure, the upper bound for a lower-is-better one (the point where a figure has no interval).
"""

import re
from dataclasses import dataclass
from typing import Literal, get_args

from adaptlab.eval.metrics import MetricName
from adaptlab.stats.intervals import Interval

Direction = Literal["higher", "lower"]
TASK_METRICS: tuple[str, ...] = get_args(MetricName)
LOWER_IS_BETTER = ("eval_loss", "forgetting_percent")
FIGURES: dict[str, Direction] = {name: "higher" for name in TASK_METRICS} | {name: "lower" for name in LOWER_IS_BETTER}
OPERATORS: dict[Direction, str] = {"higher": ">=", "lower": "<="}
_TARGET = re.compile(r"^\s*([a-z_]+)\s*(>=|<=|>|<|=)\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*$")
ALLOWED = ", ".join(f"{name}{OPERATORS[direction]}X" for name, direction in FIGURES.items())


@dataclass(frozen=True)
class Target:
    figure: str
    threshold: float

    @property
    def direction(self) -> Direction:
        return FIGURES[self.figure]

    @property
    def is_task_metric(self) -> bool:
        return self.figure in TASK_METRICS

    def __str__(self) -> str:
        return f"{self.figure}{OPERATORS[self.direction]}{self.threshold:g}"


@dataclass(frozen=True)
class TargetCheck:
    value: float
    bound: Literal["lower", "upper", "point"]
    met: bool


def parse_target(text: str) -> Target:
    """`figure>=X` or `figure<=X` -> Target; a ValueError that names --target and what is allowed otherwise."""
    match = _TARGET.match(text)
    if match is None:
        raise ValueError(f"--target {text!r}: write a figure, >= or <=, and a number; allowed: {ALLOWED}")
    figure, operator, number = match.groups()
    if figure not in FIGURES:
        raise ValueError(f"--target {text!r}: unknown figure {figure!r}; allowed: {ALLOWED}")
    direction = FIGURES[figure]
    if operator != OPERATORS[direction]:
        better = "higher" if direction == "higher" else "lower"
        raise ValueError(f"--target {text!r}: {better} {figure} is better, so write {figure}{OPERATORS[direction]}{number}")
    threshold = float(number)
    if figure in TASK_METRICS and not 0.0 <= threshold <= 1.0:
        raise ValueError(f"--target {text!r}: task metrics are fractions from 0 to 1, e.g. {figure}>=0.85")
    return Target(figure, threshold)


def check_target(target: Target, point: float, interval: Interval | None) -> TargetCheck:
    """Whether a run's figure meets the target, judged on its interval's pessimistic end."""
    if target.direction == "higher":
        value, bound = (point, "point") if interval is None else (interval.low, "lower")
        return TargetCheck(value, bound, value >= target.threshold)
    value, bound = (point, "point") if interval is None else (interval.high, "upper")
    return TargetCheck(value, bound, value <= target.threshold)
