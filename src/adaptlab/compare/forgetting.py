"""General-ability tasks for forgetting (--forgetting-tasks): lm-eval on the bare base and on each trained model,
on the same documents (adaptlab.eval.harness). The base's task scores are measured once per form of the base
and cached in `evaluation/<variant>-tasks.json`; a run's are cached with the rest of its evaluation
(adaptlab.compare.evaluation).
"""

import json
from pathlib import Path

from adaptlab import atomic
from adaptlab.compare.config import CompareConfig
from adaptlab.eval.harness import (
    TaskScores,
    check_task_names,
    run_tasks,
    task_forgetting,
)
from adaptlab.schemas.forgetting import TaskForgetting


def check_forgetting_tasks(config: CompareConfig) -> None:
    """Refuse unknown --forgetting-tasks names (or a missing task folder) before anything trains."""
    if config.forgetting_tasks:
        check_task_names(config.forgetting_tasks, config.forgetting_task_dir)


def forgetting_tasks(out: Path, variant: str, base_model, tuned, tokenizer, config: CompareConfig) -> list[TaskForgetting]:
    """Each --forgetting-tasks task before (on the base form `variant`) and after fine-tuning; none without the flag."""
    if not config.forgetting_tasks:
        return []
    before = base_task_scores(out, variant, base_model, tokenizer, config)
    return task_forgetting(before, _task_scores(tuned, tokenizer, config))


def base_task_scores(out: Path, variant: str, base_model, tokenizer, config: CompareConfig) -> TaskScores:
    """The base's per-document task scores, measured once per form of the base and cached."""
    cache_file = out / "evaluation" / f"{variant}-tasks.json"
    key = task_settings(config)
    cached = read_cache(cache_file, key)
    if cached is not None:
        return cached["scores"]
    scores = _task_scores(base_model, tokenizer, config)
    atomic.write_json(cache_file, {"key": key, "scores": scores})
    return scores


def task_settings(config: CompareConfig) -> dict:
    """What the task scores depend on besides the model: part of every cache key that holds them."""
    return {"tasks": config.forgetting_tasks, "task_dir": str(config.forgetting_task_dir), "limit": config.forgetting_task_limit}


def read_cache(cache_file: Path, key: dict) -> dict | None:
    """A cached measurement, or None when there is none, it is unreadable, or it was made for another key."""
    if not cache_file.is_file():
        return None
    try:
        cached = json.loads(cache_file.read_text())
    except ValueError:
        return None
    return cached if isinstance(cached, dict) and cached.get("key") == key else None


def _task_scores(model, tokenizer, config: CompareConfig) -> TaskScores:
    return run_tasks(model, tokenizer, config.forgetting_tasks, task_dir=config.forgetting_task_dir, limit=config.forgetting_task_limit)
