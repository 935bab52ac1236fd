"""The built-in demo task is deterministic, consistent, short, and its held-out rows are really held out."""

import re

import pytest

from adaptlab.data import DataOptions, prepare_data
from adaptlab.data.glossary_task import GLOSSARY, PROMPT_PREFIX, TEMPLATES, glossary_task, to_house_style, write_jsonl


def sentence(record: dict) -> str:
    assert record["prompt"].startswith(PROMPT_PREFIX)
    return record["prompt"][len(PROMPT_PREFIX) :]


def glossary_terms(text: str) -> set[str]:
    return {word for word in re.findall(r"[a-z]+", text) if word in GLOSSARY}


def test_same_seed_same_bytes_other_seed_other_rows(tmp_path):
    for name in ("first", "second"):
        train, held_out = glossary_task(200, 50, seed=3)
        write_jsonl(train, tmp_path / name / "train.jsonl")
        write_jsonl(held_out, tmp_path / name / "eval.jsonl")
    for file in ("train.jsonl", "eval.jsonl"):
        assert (tmp_path / "first" / file).read_bytes() == (tmp_path / "second" / file).read_bytes()
    assert glossary_task(200, 50, seed=4) != glossary_task(200, 50, seed=3)


def test_the_rule_is_the_glossary_applied_to_the_sentence():
    assert to_house_style("The customer filed a ticket about the bug; the manager agreed.") == (
        "The member filed a case about the defect; the team lead agreed."
    )
    assert to_house_style("The orderly stored the reports.") == "The orderly stored the reports."
    train, held_out = glossary_task(300, 100, seed=0)
    for record in train + held_out:
        assert record["completion"] == to_house_style(sentence(record))
        assert glossary_terms(sentence(record)), "every row exercises the glossary"
        assert not glossary_terms(record["completion"])
        assert len(record["completion"].split()) <= 25


def test_templates_contain_no_glossary_term_of_their_own():
    assert not any(glossary_terms(template) for template, _ in TEMPLATES)


@pytest.mark.parametrize("n_train", [5, 400])
def test_held_out_sentences_are_new_and_use_only_terms_seen_in_training(n_train):
    train, held_out = glossary_task(n_train, 100, seed=1)
    train_sentences = {sentence(record) for record in train}
    assert len(train_sentences) == n_train
    assert not train_sentences & {sentence(record) for record in held_out}
    seen_terms = set().union(*(glossary_terms(text) for text in train_sentences))
    assert set().union(*(glossary_terms(sentence(record)) for record in held_out)) <= seen_terms
    if n_train >= len(GLOSSARY):
        assert seen_terms == set(GLOSSARY)


def test_written_files_are_prompt_completion_data(tmp_path, tiny_tokenizer):
    train, held_out = glossary_task(20, 5, seed=0)
    write_jsonl(train, tmp_path / "train.jsonl")
    write_jsonl(held_out, tmp_path / "eval.jsonl")
    prepared = prepare_data([tmp_path / "train.jsonl"], [tmp_path / "eval.jsonl"], tiny_tokenizer, DataOptions())
    assert (prepared.info.format, prepared.info.train_examples, prepared.info.eval_examples) == ("prompt_completion", 20, 5)
