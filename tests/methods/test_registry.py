"""The method registry: one entry per name the records know, each answering for itself what the
loop, the comparison and the recommender ask (they never test a method's name)."""

import json
from typing import get_args

import pytest
from rich.console import Console

from adaptlab.methods import METHODS, get_method
from adaptlab.schemas.adapter_metadata import ADAPTER_METADATA_FILE
from adaptlab.schemas.run_record import Method
from adaptlab.train.loop import train
from tests.train.helpers import tiny_config

QUIET = Console(quiet=True)


def test_every_recorded_method_name_has_exactly_one_method_object():
    assert list(METHODS) == list(get_args(Method))
    assert all(method.name == name for name, method in METHODS.items())


def test_the_method_facts_reports_and_serving_rely_on():
    assert {name for name, m in METHODS.items() if m.shares_base} == {name for name, m in METHODS.items() if m.artifact_kind == "peft_adapter"}
    assert {name for name, m in METHODS.items() if m.quantized_base} == {"qlora"}
    assert {m.base_variant for m in METHODS.values()} == {"base", "base-4bit"}
    assert get_method("full").default_learning_rate < get_method("lora").default_learning_rate


@pytest.mark.parametrize("name", list(METHODS))
def test_the_learning_rate_is_the_configs_else_the_methods_default(tmp_path, name):
    method = get_method(name)
    assert method.learning_rate(tiny_config(tmp_path, name, learning_rate=None)) == method.default_learning_rate
    assert method.learning_rate(tiny_config(tmp_path, name, learning_rate=0.123)) == 0.123


@pytest.mark.parametrize("name", ["lora", "qlora"])
def test_save_writes_the_adapter_metadata_with_the_base_form_it_trained_on(tmp_path, tiny_model, name):
    run = train(tiny_config(tmp_path, name, max_steps=1), console=QUIET)
    metadata = json.loads((tmp_path / f"run-{name}" / ADAPTER_METADATA_FILE).read_text())
    assert metadata["method"] == name and metadata["base_weights_sha256"] == tiny_model.weights_sha256
    assert metadata["quantized_base"] == get_method(name).quantized_base
    assert run.record.artifact.kind == "peft_adapter" and ADAPTER_METADATA_FILE in run.record.artifact.files
