"""`adaptlab compare` config: the training config shared by every method, plus what the comparison adds."""

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from adaptlab.compare.target import parse_target
from adaptlab.methods import METHODS, get_method
from adaptlab.schemas.run_record import Method
from adaptlab.schemas.train_config import TrainConfig, is_url

# TrainConfig fields that the comparison sets per method instead of taking from the user.
PER_METHOD_FIELDS = ("method", "learning_rate")
LR_SWEEP_FACTORS = (1 / 3, 1.0, 3.0)
LR_SWEEP_BUDGET_FRACTION = 0.25
LR_SWEEP_VALIDATION_FRACTION = 0.1


class CompareConfig(TrainConfig):
    methods: list[Method] = Field(["full", "lora", "qlora"], description="methods to compare; one flag may also list several, comma-separated")
    learning_rates: dict[str, float] = Field({}, description="per-method learning rate, e.g. full=1e-5 lora=2e-4 (default: each method's own)")
    lr_sweep: bool = Field(
        False,
        description="try each rate × 1/3, 1, 3 on a quarter of the budget and keep the best by validation loss "
        "(a tenth of the training rows when --eval-data is given, else the held-out split)",
    )
    metric: Literal["auto", "none", "exact_match", "contains", "rouge_l", "accuracy"] = Field("auto", description="task metric on generated answers (auto picks from the references)")
    metric_examples: int = Field(64, ge=1, description="held-out rows the task metric is computed on")
    max_new_tokens: int = Field(32, ge=1, description="greedy decoding limit for the task metric")
    reference: Path | None = Field(None, description="general reference text for forgetting (default: adaptlab's built-in text)")
    price_per_hour: float | None = Field(None, ge=0, description="USD per hour of this machine (default: a documented price for the detected hardware)")
    forgetting_tasks: list[str] = Field([], description="lm-eval tasks measured on the base and every trained model, e.g. hellaswag,arc_challenge,winogrande (needs the forgetting extra)")
    forgetting_task_dir: Path | None = Field(None, description="folder of lm-eval YAML task definitions (local tasks for --forgetting-tasks)")
    forgetting_task_limit: int | None = Field(None, ge=1, description="documents per --forgetting-tasks task (default: all)")
    base_data: list[Path] = Field(
        [], description="data shared by every client: full fine-tuning on it gives the hybrid's base; each --data file is then one client"
    )
    staged: list[Method] = Field(
        [], description="train these methods in this order (instead of --methods) and stop at the first that meets --target"
    )
    target: str | None = Field(
        None, description="what a staged run must reach, judged on its 95 % interval: a task metric (accuracy>=0.85), "
                          "eval_loss<=X or forgetting_percent<=X"
    )
    force_all: bool = Field(False, description="with --staged: train every method even after one meets --target")
    seeds: int = Field(
        1, ge=1, description="train each method this many times with different training seeds (initialisation, data order, "
        "dropout); the intervals then include the spread across seeds (1: they cover the sampling of examples only)"
    )

    @model_validator(mode="after")
    def _check_compare(self) -> "CompareConfig":
        if is_url(self.out):
            raise ValueError("out: a comparison is a local folder (its runs are measured from it), not a URL")
        if not self.eval_data and self.eval_fraction == 0:
            self.eval_fraction = 0.1
        unknown = set(self.learning_rates) - set(METHODS)
        if unknown:
            raise ValueError(f"learning_rates: unknown methods {sorted(unknown)}")
        if self.staged:
            self.methods = list(self.staged)
        if bool(self.staged) != (self.target is not None):
            raise ValueError("staged, target: --staged and --target go together (--staged lora,full --target \"accuracy>=0.85\")")
        if self.force_all and not self.staged:
            raise ValueError("force_all: --force-all applies to a --staged comparison only")
        on_tuned_base = [name for name in self.methods if get_method(name).tuned_base_method]
        if bool(on_tuned_base) != bool(self.base_data):
            raise ValueError(
                f"base_data: methods {on_tuned_base} train on a base fine-tuned on --base-data; give it" if on_tuned_base else
                "base_data: --base-data is the shared data of the hybrid; add hybrid to --methods or drop --base-data"
            )
        if self.base_data and self.eval_data:
            raise ValueError("eval_data: with --base-data each client's held-out rows come from its own --data file (--eval-fraction)")
        if self.packing_refusals():
            self.packing = False  # for every method: packing changes the tokens per step, and all must see the same
        return self

    def packing_refusals(self) -> dict[str, str]:
        """The compared methods that cannot train on packed rows, and why."""
        return {name: refusal for name in self.methods if (refusal := get_method(name).packing_refusal)}

    @field_validator("target")
    @classmethod
    def _valid_target(cls, value: str | None) -> str | None:
        if value is not None:
            parse_target(value)
        return value

    @property
    def tuned_base_methods(self) -> list[str]:
        """The methods that first fully fine-tune a base on --base-data (the hybrid's base), each once."""
        return list(dict.fromkeys(m for name in self.methods if (m := get_method(name).tuned_base_method)))

    @field_validator("methods", "staged", "forgetting_tasks", mode="before")
    @classmethod
    def _split_commas(cls, value):
        entries = [value] if isinstance(value, str) else list(value)
        return list(dict.fromkeys(name.strip() for entry in entries for name in str(entry).split(",") if name.strip()))

    def learning_rate_for(self, method: str) -> tuple[float, Literal["method_default", "user"]]:
        if method in self.learning_rates:
            return self.learning_rates[method], "user"
        return get_method(method).default_learning_rate, "method_default"

    def train_config(self, method: str, learning_rate: float, out: Path, **overrides) -> TrainConfig:
        shared = self.model_dump(include=set(TrainConfig.model_fields) - set(PER_METHOD_FIELDS))
        shared.update(method=method, learning_rate=learning_rate, out=out, **overrides)
        return TrainConfig.model_validate(shared)

    def sweep_trial_config(self, method: str, learning_rate: float, out: Path, max_steps: int) -> TrainConfig:
        """A learning-rate trial. With held-out files, it is scored on a validation slice of the training
        rows instead, so the held-out loss the report shows is not the one the rate was picked on."""
        validation = {"eval_data": [], "eval_fraction": LR_SWEEP_VALIDATION_FRACTION} if self.eval_data else {}
        return self.train_config(method, learning_rate, out, max_steps=max_steps, **validation)
