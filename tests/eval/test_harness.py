"""General-ability tasks through lm-evaluation-harness, offline, on a local task built from WinoGrande rows."""

import pytest
import torch

from adaptlab.errors import ConfigError
from adaptlab.eval.harness import (
    check_task_names,
    run_tasks,
    task_forgetting,
    task_manager,
)
from adaptlab.models import load_causal_lm, load_tokenizer, resolve_model
from tests.eval.conftest import LOCAL_TASK, TASK_ROWS


def test_local_task_runs_offline_on_the_tiny_model(tiny_model, local_task_dir):
    model, tokenizer = load_causal_lm(tiny_model.path), load_tokenizer(tiny_model.path)
    scores = run_tasks(model, tokenizer, [LOCAL_TASK], task_dir=local_task_dir, limit=12)
    assert list(scores) == [LOCAL_TASK]
    assert len(scores[LOCAL_TASK]) == 12 and set(scores[LOCAL_TASK]) <= {0.0, 1.0}

    with torch.no_grad():
        model.lm_head.weight.mul_(-1)  # a different model answers differently on some documents
    after = run_tasks(model, tokenizer, [LOCAL_TASK], task_dir=local_task_dir, limit=12)
    [row] = task_forgetting(scores, after)
    assert row.task == LOCAL_TASK and row.before.examples == 12
    assert row.before.value == pytest.approx(sum(scores[LOCAL_TASK]) / 12)
    assert row.change.value == pytest.approx(row.after.value - row.before.value)
    assert row.before.low <= row.before.value <= row.before.high


def test_unknown_task_names_are_refused_naming_the_flag(local_task_dir):
    with pytest.raises(ConfigError, match="--forgetting-tasks: unknown task.*no_such_task"):
        check_task_names([LOCAL_TASK, "no_such_task"], local_task_dir)


def test_task_groups_are_refused_with_a_hint(local_task_dir):
    with pytest.raises(ConfigError, match="aclue is a group or tag"):
        check_task_names(["aclue"], local_task_dir)


def test_local_tasks_are_indexed_alone_and_each_index_is_built_once(local_task_dir):
    """lm-eval's built-in definitions are indexed only when a task needs them, and a comparison's later runs reuse the index."""
    local = task_manager([LOCAL_TASK], local_task_dir)
    assert LOCAL_TASK in local.all_tasks and "arc_easy" not in local.all_tasks
    assert task_manager([LOCAL_TASK], local_task_dir) is local
    with_builtins = task_manager([LOCAL_TASK, "arc_easy"], local_task_dir)
    assert {LOCAL_TASK, "arc_easy"} <= set(with_builtins.all_tasks)
    assert task_manager(["arc_easy", LOCAL_TASK], local_task_dir) is with_builtins


def test_a_missing_task_folder_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="--forgetting-task-dir"):
        check_task_names([LOCAL_TASK], tmp_path / "absent")


@pytest.mark.integration
def test_local_task_runs_on_smollm2(local_task_dir):
    base = resolve_model("builtin:smollm2-135m")
    scores = run_tasks(load_causal_lm(base.path), load_tokenizer(base.path), [LOCAL_TASK], task_dir=local_task_dir)
    assert len(scores[LOCAL_TASK]) == TASK_ROWS
