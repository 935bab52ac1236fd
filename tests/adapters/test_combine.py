import json

import pytest
import torch
from peft import PeftModel

from adaptlab.adapters.combine import COMBINE_RECORD_FILE, combine_adapters, read_combine_record, union_data
from adaptlab.adapters.loading import load_base_with_adapters
from adaptlab.adapters.metadata import read_adapter_metadata
from adaptlab.errors import CompatibilityError, ConfigError
from adaptlab.models import load_causal_lm
from adaptlab.models.hashing import count_parameters
from adaptlab.schemas.run_record import DataFileInfo, DataInfo
from tests.adapters.helpers import logits, max_diff


def peft_weighted(base_path, adapters, weights, how, seed, **options):
    """PEFT's own add_weighted_adapter on the same inputs, nothing of ours involved; the torch seed is
    set just before it, as combine does, so dare_* prunes the same entries."""
    model = PeftModel.from_pretrained(load_causal_lm(base_path), adapters[0], adapter_name="first")
    model.load_adapter(adapters[1], adapter_name="second")
    torch.manual_seed(seed)
    model.add_weighted_adapter(["first", "second"], weights, "mix", combination_type=how, **options)
    model.set_adapter("mix")
    return model.eval()


@pytest.mark.parametrize(
    "how, options",
    [
        ("linear", {}),
        ("cat", {}),
        ("svd", {}),
        ("ties", {"density": 0.5}),
        ("ties_svd", {"density": 0.5}),
        ("dare_linear", {"density": 0.5}),
        ("dare_ties", {"density": 0.5}),
        ("magnitude_prune", {"density": 0.5}),
    ],
)
def test_combination_matches_peft_and_is_a_normal_peft_adapter(make_adapter, tiny_model, tmp_path, how, options):
    a = make_adapter("a", seed=1, targets=["q_proj", "v_proj", "up_proj"])
    b = make_adapter("b", seed=2, targets=["q_proj", "v_proj", "up_proj"])
    record = combine_adapters([a, b], [0.7, 0.3], how, tmp_path / "ab", seed=7, **options)

    expected = logits(peft_weighted(tiny_model.path, [a, b], [0.7, 0.3], how, seed=7, **options))
    ours, _ = load_base_with_adapters(tiny_model, [tmp_path / "ab"])
    plain_peft = PeftModel.from_pretrained(load_causal_lm(tiny_model.path), tmp_path / "ab").eval()
    assert max_diff(logits(ours), expected) < 1e-5
    assert max_diff(logits(plain_peft), expected) < 1e-5
    assert max_diff(expected, logits(load_causal_lm(tiny_model.path))) > 1e-3

    metadata = read_adapter_metadata(tmp_path / "ab")
    assert metadata.method == f"combine:{how}" and metadata.parents == [str(a.resolve()), str(b.resolve())]
    assert metadata.base_weights_sha256 == tiny_model.weights_sha256
    assert json.loads((tmp_path / "ab" / COMBINE_RECORD_FILE).read_text())["weights"] == [0.7, 0.3] == record.weights
    assert read_combine_record(tmp_path / "ab") == record
    assert json.loads((tmp_path / "ab" / "adapter_config.json").read_text())["base_model_name_or_path"] == tiny_model.model_id


@pytest.mark.parametrize("rslora", [False, True])
def test_cat_equals_stacking_exactly_even_with_rslora(make_adapter, tiny_model, tmp_path, rslora):
    # PEFT gives the result the first parent's use_rslora, which would scale it again by sqrt(r); we fold that.
    a = make_adapter("a", seed=1, rank=4, rslora=rslora)
    b = make_adapter("b", seed=2, rank=8, rslora=rslora, targets=["v_proj", "down_proj"])
    combine_adapters([a, b], [0.5, -1.5], "cat", tmp_path / "ab")
    combined, _ = load_base_with_adapters(tiny_model, [tmp_path / "ab"])
    stacked, _ = load_base_with_adapters(tiny_model, [a, b], [0.5, -1.5])
    assert max_diff(logits(combined), logits(stacked)) < 1e-5


def test_different_bases_are_refused(make_adapter, tmp_path, other_base):
    a = make_adapter("a", seed=1)
    b = make_adapter("b", seed=2, base=other_base)
    with pytest.raises(CompatibilityError, match="trained on"):
        combine_adapters([a, b], [0.5, 0.5], "linear", tmp_path / "ab")
    assert not (tmp_path / "ab").exists()


def test_incompatible_adapters_are_refused_with_a_way_out(make_adapter, tmp_path):
    a = make_adapter("a", seed=1, rank=4, targets=["q_proj"])
    other_modules = make_adapter("b", seed=2, rank=4, targets=["v_proj"])
    other_rank = make_adapter("c", seed=3, rank=8, targets=["q_proj"])
    dora = make_adapter("d", seed=4, dora=True, targets=["q_proj"])
    with pytest.raises(CompatibilityError, match="same modules.*--how cat"):
        combine_adapters([a, other_modules], [0.5, 0.5], "linear", tmp_path / "out")
    with pytest.raises(CompatibilityError, match="same rank.*--how cat"):
        combine_adapters([a, other_rank], [0.5, 0.5], "ties", tmp_path / "out")
    with pytest.raises(CompatibilityError, match="DoRA adapters cannot be combined"):
        combine_adapters([a, dora], [0.5, 0.5], "cat", tmp_path / "out")
    combine_adapters([a, other_rank], [0.5, 0.5], "svd", tmp_path / "out")


def test_bad_options_are_config_errors(make_adapter, tmp_path):
    a = make_adapter("a", seed=1)
    b = make_adapter("b", seed=2)
    with pytest.raises(ConfigError, match="one weight per adapter"):
        combine_adapters([a, b], [1.0], "linear", tmp_path / "out")
    with pytest.raises(ConfigError, match="at least two"):
        combine_adapters([a], [1.0], "linear", tmp_path / "out")
    with pytest.raises(ConfigError, match="--density"):
        combine_adapters([a, b], [1.0, 1.0], "linear", tmp_path / "out", density=0.3)
    with pytest.raises(ConfigError, match="--density"):
        combine_adapters([a, b], [1.0, 1.0], "ties", tmp_path / "out", density=1.5)
    with pytest.raises(ConfigError, match="--svd-rank"):
        combine_adapters([a, b], [1.0, 1.0], "ties", tmp_path / "out", svd_rank=2)


def test_dare_is_reproducible_with_its_seed(make_adapter, tmp_path):
    a = make_adapter("a", seed=1)
    b = make_adapter("b", seed=2)
    combine_adapters([a, b], [0.5, 0.5], "dare_ties", tmp_path / "one", seed=7)
    combine_adapters([a, b], [0.5, 0.5], "dare_ties", tmp_path / "two", seed=7)
    from safetensors.torch import load_file

    one, two = (load_file(tmp_path / name / "adapter_model.safetensors") for name in ("one", "two"))
    assert one.keys() == two.keys() and all(torch.equal(one[k], two[k]) for k in one)


def test_union_of_source_data_counts_each_tokenized_set_once():
    def data(name: str, tokenized: str, examples: int) -> DataInfo:
        file = DataFileInfo(path=f"{name}.jsonl", sha256=name * 64, rows=examples, bad_rows=0, role="train")
        return DataInfo(
            format="chat", files=[file], train_examples=examples, eval_examples=0, train_target_tokens=10 * examples, tokenized_sha256=tokenized
        )

    same = union_data([data("a", "1" * 64, 5), data("a", "1" * 64, 5)])
    assert (len(same.files), same.train_examples, same.tokenized_sha256) == (1, 5, "1" * 64)
    both = union_data([data("a", "1" * 64, 5), data("b", "2" * 64, 7)])
    assert ([f.path for f in both.files], both.train_examples, both.train_target_tokens) == (["a.jsonl", "b.jsonl"], 12, 120)
    assert both.tokenized_sha256 not in ("1" * 64, "2" * 64) and both.format == "chat"
    assert union_data([]) is None and union_data([None]) is None
    partly_known = union_data([data("a", "1" * 64, 5), None])
    assert partly_known.format == "chat+unknown" and partly_known.train_examples == 5


def test_a_pickle_only_base_counts_its_parameters_with_allow_pickle(make_adapter, tiny_model, pickle_only_base, tmp_path):
    a, b = make_adapter("a", seed=1), make_adapter("b", seed=2)
    record = combine_adapters([a, b], [0.5, 0.5], "linear", tmp_path / "ab", model=str(pickle_only_base),
                              allow_pickle=True, allow_base_mismatch=True)
    assert record.params.total == count_parameters(tiny_model.path) + record.params.trainable
