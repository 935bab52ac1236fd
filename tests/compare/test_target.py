"""`compare --target`: the parser names the option and what is allowed; a run meets a target on its interval's pessimistic end."""

import pytest

from adaptlab.compare.config import CompareConfig
from adaptlab.compare.target import Target, check_target, parse_target
from adaptlab.errors import ConfigError
from adaptlab.schemas.train_config import build_config
from adaptlab.stats.intervals import Interval


@pytest.mark.parametrize(("text", "figure", "threshold"), [
    ("accuracy>=0.85", "accuracy", 0.85), (" exact_match >= .5 ", "exact_match", 0.5), ("eval_loss<=1.2", "eval_loss", 1.2),
    ("forgetting_percent<=2", "forgetting_percent", 2.0), ("rouge_l>=1", "rouge_l", 1.0), ("eval_loss<=1e-1", "eval_loss", 0.1),
])
def test_targets_that_parse(text, figure, threshold):
    target = parse_target(text)
    assert (target.figure, target.threshold) == (figure, threshold)
    assert parse_target(str(target)) == target


@pytest.mark.parametrize(("text", "says"), [
    ("accuracy", "write a figure, >= or <=, and a number"),
    ("accuracy>=high", "write a figure"),
    ("relative_score>=95", "unknown figure 'relative_score'"),
    ("accuracy<=0.9", "higher accuracy is better, so write accuracy>=0.9"),
    ("eval_loss>=1", "lower eval_loss is better, so write eval_loss<=1"),
    ("accuracy>=85", "task metrics are fractions from 0 to 1"),
])
def test_bad_targets_name_the_option_and_what_is_allowed(text, says):
    with pytest.raises(ValueError, match="--target") as error:
        parse_target(text)
    assert says in str(error.value)


def test_the_config_refuses_a_bad_target_and_a_target_without_staged(tmp_path):
    base = {"data": [tmp_path / "d.jsonl"], "out": tmp_path / "out"}
    with pytest.raises(ConfigError, match="unknown figure"):
        build_config(None, base | {"staged": "lora,full", "target": "speed>=1"}, config_class=CompareConfig)
    with pytest.raises(ConfigError, match="--staged and --target go together"):
        build_config(None, base | {"target": "eval_loss<=1"}, config_class=CompareConfig)
    with pytest.raises(ConfigError, match="--force-all"):
        build_config(None, base | {"force_all": True}, config_class=CompareConfig)
    staged = build_config(None, base | {"staged": "lora,full", "target": "eval_loss<=1"}, config_class=CompareConfig)
    assert staged.methods == ["lora", "full"]


def test_the_pessimistic_end_of_the_interval_decides():
    interval = Interval(low=0.80, high=0.95)
    assert not check_target(Target("accuracy", 0.85), 0.9, interval).met  # the point meets it, the lower bound does not
    assert check_target(Target("accuracy", 0.8), 0.9, interval).met
    loss = check_target(Target("eval_loss", 1.0), 0.9, Interval(low=0.8, high=1.1))
    assert (loss.value, loss.bound, loss.met) == (1.1, "upper", False)
    assert check_target(Target("eval_loss", 1.0), 0.9, None).bound == "point"
