"""A small local lm-eval task built at run time from ../shared/data/winogrande_dev.jsonl (skipped without it)."""

import json
from pathlib import Path

import pytest

LOCAL_TASK = "local_winogrande"
TASK_ROWS = 40


def multiple_choice_row(row: dict) -> dict:
    """A WinoGrande row as context + the two endings that fill the blank with each option."""
    blank = row["sentence"].index("_")
    ending = row["sentence"][blank + 1 :]
    return {
        "context": row["sentence"][:blank].strip(),
        "choices": [row["option1"] + ending, row["option2"] + ending],
        "label": int(row["answer"]) - 1,
    }


@pytest.fixture(scope="session")
def local_task_dir(shared_data: Path, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("lm-eval-tasks")
    lines = (shared_data / "winogrande_dev.jsonl").read_text(encoding="utf-8").splitlines()[:TASK_ROWS]
    data_file = folder / "winogrande.jsonl"
    data_file.write_text("".join(json.dumps(multiple_choice_row(json.loads(line))) + "\n" for line in lines), encoding="utf-8")
    template = (Path(__file__).parent / "fixtures" / f"{LOCAL_TASK}.yaml").read_text(encoding="utf-8")
    (folder / f"{LOCAL_TASK}.yaml").write_text(template.replace("DATA_FILE", str(data_file)), encoding="utf-8")
    return folder
