"""Each method's forgetting signals and weight-space diagnostics, measured against the base it trained on.

The bare base (4-bit for QLoRA) and the trained model are loaded side by side once per method: one paired
pass gives reference loss before/after and KL on the reference text and held-out answers
(adaptlab.eval.forgetting), the weights give the diagnostics (adaptlab.adapters.diagnostics), and with
--forgetting-tasks lm-eval scores both on the same documents (adaptlab.eval.harness). Results are cached in
`evaluation/<method>-forgetting.json` by run id and settings; the base's task scores in
`evaluation/<variant>-tasks.json`.
"""

import json
from pathlib import Path

from adaptlab import atomic
from adaptlab.adapters.diagnostics import weight_diagnostics
from adaptlab.compare.config import CompareConfig
from adaptlab.data import Example
from adaptlab.eval.forgetting import forgetting_signals
from adaptlab.eval.harness import TaskScores, check_task_names, run_tasks, task_forgetting
from adaptlab.methods import get_method
from adaptlab.models import ResolvedModel, load_causal_lm
from adaptlab.schemas.forgetting import MethodForgetting, TaskForgetting


def check_forgetting_tasks(config: CompareConfig) -> None:
    """Refuse unknown --forgetting-tasks names (or a missing task folder) before anything trains."""
    if config.forgetting_tasks:
        check_task_names(config.forgetting_tasks, config.forgetting_task_dir)


def evaluate_forgetting(out: Path, method: str, run_id: str, base: ResolvedModel, tokenizer, reference_set: list[Example],
                        held_out: list[Example], config: CompareConfig, trained_on: ResolvedModel | None = None) -> MethodForgetting:
    """`trained_on`: the tuned base a hybrid adapter trained on (default `base`). Its forgetting signals compare the
    served model (adapter on the tuned base) with the original `base`; its weight diagnostics are its own LoRA update
    on the tuned base (adaptlab.adapters.diagnostics reads a PEFT model's updates from its layers)."""
    cache_file = out / "evaluation" / f"{method}-forgetting.json"
    key = {"run_id": run_id, **_task_settings(config)}
    cached = _cached(cache_file, key)
    if cached is not None:
        return MethodForgetting.model_validate(cached["result"])
    fine_tuning = get_method(method)
    base_model = load_causal_lm(base.path, load_in_4bit=fine_tuning.quantized_base)
    tuned = fine_tuning.load_trained(trained_on or base, out / "runs" / method)
    tasks: list[TaskForgetting] = []
    if config.forgetting_tasks:
        before = base_task_scores(out, fine_tuning.base_variant, base_model, tokenizer, config)
        tasks = task_forgetting(before, _task_scores(tuned, tokenizer, config))
    result = MethodForgetting(
        signals=forgetting_signals(base_model, tuned, reference_set, held_out, tokenizer.pad_token_id),
        tasks=tasks,
        diagnostics=weight_diagnostics(tuned, base_model) if fine_tuning.has_weight_delta else None,
    )
    atomic.write_json(cache_file, {"key": key, "result": result.model_dump(mode="json")})
    return result


def base_task_scores(out: Path, variant: str, base_model, tokenizer, config: CompareConfig) -> TaskScores:
    """The base's per-document task scores, measured once per form of the base and cached."""
    cache_file = out / "evaluation" / f"{variant}-tasks.json"
    key = _task_settings(config)
    cached = _cached(cache_file, key)
    if cached is not None:
        return cached["scores"]
    scores = _task_scores(base_model, tokenizer, config)
    atomic.write_json(cache_file, {"key": key, "scores": scores})
    return scores


def _task_scores(model, tokenizer, config: CompareConfig) -> TaskScores:
    return run_tasks(model, tokenizer, config.forgetting_tasks, task_dir=config.forgetting_task_dir, limit=config.forgetting_task_limit)


def _task_settings(config: CompareConfig) -> dict:
    return {"tasks": config.forgetting_tasks, "task_dir": str(config.forgetting_task_dir), "limit": config.forgetting_task_limit}


def _cached(cache_file: Path, key: dict) -> dict | None:
    if not cache_file.is_file():
        return None
    try:
        cached = json.loads(cache_file.read_text())
    except ValueError:
        return None
    return cached if cached.get("key") == key else None
