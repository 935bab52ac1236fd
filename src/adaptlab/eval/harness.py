"""General-ability tasks through lm-evaluation-harness (`lm-eval`, the `forgetting` extra): accuracy of a loaded
model on multiple-choice tasks, per document, so before/after intervals can be paired over the same documents.

Task names are lm-eval's (`hellaswag`, `arc_easy`, `arc_challenge`, `winogrande`, ...) or those of YAML task
definitions in `task_dir` (lm-eval's include path). lm-eval reads task data through Hugging Face `datasets`: offline,
point a local YAML at local files (`dataset_path: json`, `dataset_kwargs: {data_files: ...}`) or pre-fill the
datasets cache (docs/compare.md). The model is passed as an object, so every method is measured exactly as it is
loaded for the other figures (a PEFT model for the LoRA family, the 4-bit base for QLoRA).
"""

import functools
import logging
from pathlib import Path

from adaptlab.errors import ConfigError, DataError
from adaptlab.eval.intervals import bootstrap_estimate, mean
from adaptlab.schemas.forgetting import TASK_METRIC, TaskForgetting

HARNESS_BATCH_SIZE = 8

TaskScores = dict[str, list[float]]
"""Per task, the accuracy (0 or 1) of each document, in document order."""


def task_manager(tasks: list[str], task_dir: Path | None):
    """lm-eval's task index for `tasks`: the YAML files under `task_dir` alone when they define every task, else
    lm-eval's built-in definitions too. Indexing the built-ins reads thousands of YAML files (seconds), so an index
    is built once per process and a comparison's later runs reuse it."""
    try:
        import lm_eval.tasks  # noqa: F401 (only to say which extra is missing)
    except ImportError as exc:
        raise ConfigError("--forgetting-tasks needs lm-evaluation-harness: pip install 'adaptlab[forgetting]'") from exc
    if task_dir is None:
        return _task_index(None, include_defaults=True)
    if not Path(task_dir).is_dir():
        raise ConfigError(f"--forgetting-task-dir {task_dir}: not a folder of lm-eval task YAML files")
    include_path = str(Path(task_dir).resolve())
    local = _task_index(include_path, include_defaults=False)
    if all(name in local.all_tasks for name in tasks):
        return local
    return _task_index(include_path, include_defaults=True)


@functools.cache
def _task_index(include_path: str | None, include_defaults: bool):
    from lm_eval.tasks import TaskManager

    return TaskManager(include_path=include_path, include_defaults=include_defaults)


def check_task_names(tasks: list[str], task_dir: Path | None, manager=None) -> None:
    """Refuse unknown task names, and groups or tags (list their tasks instead), before anything trains."""
    manager = manager or task_manager(tasks, task_dir)
    groups = [name for name in tasks if name in manager.all_tasks and name not in manager.all_subtasks]
    if groups:
        raise ConfigError(f"--forgetting-tasks: {', '.join(groups)} is a group or tag of lm-eval tasks; list its tasks instead")
    unknown = [name for name in tasks if name not in manager.all_tasks]
    if unknown:
        where = f" or in {task_dir}" if task_dir else "; local YAML task definitions go in --forgetting-task-dir"
        raise ConfigError(f"--forgetting-tasks: unknown task(s) {', '.join(unknown)} (not an lm-eval task{where})")


def run_tasks(model, tokenizer, tasks: list[str], *, task_dir: Path | None = None, limit: int | None = None,
              batch_size: int = HARNESS_BATCH_SIZE) -> TaskScores:
    """Zero-shot accuracy of `model` on each task, per document (the first `limit` documents when given)."""
    import lm_eval
    from lm_eval.models.huggingface import HFLM

    manager = task_manager(tasks, task_dir)
    check_task_names(tasks, task_dir, manager)
    logging.getLogger("lm_eval").setLevel(logging.ERROR)
    harness_model = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=batch_size)
    try:
        results = lm_eval.simple_evaluate(
            model=harness_model, tasks=tasks, task_manager=manager, limit=limit,
            log_samples=True, bootstrap_iters=0, num_fewshot=0,
        )
    except Exception as exc:  # dataset download/parsing errors come from many libraries
        raise DataError(f"lm-eval could not run {', '.join(tasks)}: {type(exc).__name__}: {exc}") from exc
    return {task: _per_document(results["samples"][task], task) for task in tasks}


def task_forgetting(before: TaskScores, after: TaskScores) -> list[TaskForgetting]:
    """Accuracy before/after per task with intervals, and the paired change."""
    rows = []
    for task, before_values in before.items():
        after_values = after[task]
        if len(after_values) != len(before_values):
            raise DataError(f"task {task}: {len(before_values)} documents before but {len(after_values)} after; rerun both")
        rows.append(TaskForgetting(
            task=task, before=mean(before_values), after=mean(after_values),
            change=bootstrap_estimate(_mean_difference, before_values, after_values),
        ))
    return rows


def _per_document(samples: list[dict], task: str) -> list[float]:
    if samples and TASK_METRIC not in samples[0]:
        raise DataError(f"task {task} reports no '{TASK_METRIC}' per document; use a multiple-choice task")
    return [float(sample[TASK_METRIC]) for sample in sorted(samples, key=lambda sample: sample["doc_id"])]


def _mean_difference(before, after, axis=-1):
    return after.mean(axis=axis) - before.mean(axis=axis)
