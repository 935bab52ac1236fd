"""A blind human review of two methods of a comparison (`adaptlab review create --compare`): prompts are its held-out
rows, its runs answer, and the results land in report.json/md/html and in recommend's reasons as votes arrive.

The comparison folder is laid out as `adaptlab compare` leaves it (compare.yaml, runs/<method>/ loadable by the
method objects, report.json), with real tiny models but without training them: compare itself is covered by
test_runner.py, whose fixture trains for minutes."""

import hashlib
import json

import pytest
import yaml

from adaptlab.compare.config import CompareConfig
from adaptlab.compare.human_review import earlier_human_reviews
from adaptlab.compare.recommend import Constraints, recommend
from adaptlab.compare.report import write_reports
from adaptlab.compare.schema import BaseModelSummary, DataFileSummary, read_comparison
from adaptlab.data.glossary_task import glossary_task, write_jsonl
from adaptlab.errors import ArtifactError, ConfigError
from adaptlab.registry import Registry, local_admin
from tests.registry.runs import save_lora_adapter

from .conftest import build_comparison


@pytest.fixture
def comparison_folder(tmp_path, tiny_model):
    from adaptlab.models import load_causal_lm

    folder = tmp_path / "cmp"
    train_rows, eval_rows = glossary_task(24, 6, seed=0)
    files = {"train": folder / "data" / "train.jsonl", "eval": folder / "data" / "eval.jsonl"}
    write_jsonl(train_rows, files["train"])
    write_jsonl(eval_rows, files["eval"])
    config = CompareConfig(model="builtin:tiny", data=[files["train"]], eval_data=[files["eval"]], methods=["full", "lora"], out=folder)
    (folder / "compare.yaml").write_text(yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False))
    save_lora_adapter(tiny_model, folder / "runs" / "lora", seed=3)
    load_causal_lm(tiny_model.path).save_pretrained(folder / "runs" / "full", safe_serialization=True)
    comparison = build_comparison(methods=("full", "lora"))
    data = comparison.data.model_copy(update={"files": [
        DataFileSummary(path=str(path), sha256=hashlib.sha256(path.read_bytes()).hexdigest(), rows=len(rows), role=role)
        for (role, path), rows in zip(files.items(), (train_rows, eval_rows))
    ]})
    base = BaseModelSummary(spec="builtin:tiny", model_id=tiny_model.model_id, weights_sha256=tiny_model.weights_sha256, weights_size_bytes=1)
    write_reports(comparison.model_copy(update={"base_model": base, "data": data}), folder)
    return folder, eval_rows


def test_a_review_of_two_methods_lands_in_the_reports_and_the_recommendation(comparison_folder, tmp_path):
    folder, eval_rows = comparison_folder
    admin = local_admin()
    with Registry.open(tmp_path / "registry") as registry:
        registry.create_tenant(admin, "acme")
        record = registry.create_comparison_review(admin, folder, ["lora", "full"], n=3, max_new_tokens=4, tenant="acme")
        assert (record.candidate, record.baseline, record.items, record.comparison_dir) == ("lora", "full", 3, str(folder.resolve()))
        assert read_comparison(folder).human_reviews == []  # nothing to show before the first vote
        for item, verdict in ((1, "tie"), (2, "tie"), (3, "both_bad")):
            registry.vote(admin, record.review_id, item, verdict, by="rita")
        prompt = registry.review_item(admin, record.review_id, 1, by="rita").prompt
    assert [message.model_dump() for message in prompt] == [{"role": "user", "content": eval_rows[0]["prompt"]}]
    results = read_comparison(folder).human_reviews[0]
    assert (results.votes, results.judged_votes, results.win_rate, results.reviewers) == (3, 2, 0.5, {"rita": 3})
    line = ("Human review #1 (blind): LoRA better than Full FT in 50.0 % (95 % CI 50.0–50.0) of 2 judged votes "
            "(ties count half; 1 both bad left out); 1 reviewer, 3 votes on 3 items.")
    assert line in (folder / "report.md").read_text()
    assert line in (folder / "report.html").read_text()
    assert recommend(read_comparison(folder), Constraints()).reasons[-1] == line
    assert earlier_human_reviews(folder) == [results]  # what a re-run of the comparison keeps


def test_the_pair_and_the_data_are_checked_before_any_model_answers(comparison_folder, tmp_path):
    folder, _ = comparison_folder
    admin = local_admin()
    with Registry.open(tmp_path / "registry") as registry:
        registry.create_tenant(admin, "acme")
        with pytest.raises(ConfigError, match="compared full, lora, not dora"):
            registry.create_comparison_review(admin, folder, ["dora", "full"], tenant="acme")
        with pytest.raises(ConfigError, match="say which tenant"):
            registry.create_comparison_review(admin, folder, ["lora", "full"])
        with (folder / "data" / "eval.jsonl").open("a") as eval_file:
            eval_file.write(json.dumps({"prompt": "new", "completion": "row"}) + "\n")
        with pytest.raises(ArtifactError, match="data changed since the comparison ran"):
            registry.create_comparison_review(admin, folder, ["lora", "full"], tenant="acme")
        assert registry.list_reviews(admin) == []
