"""Per-row LoRA: each row of a mixed batch gets what PEFT gives it alone; what cannot be applied per row is refused."""

import pytest
import torch

from adaptlab.adapters.files import open_adapter_folder
from adaptlab.errors import CompatibilityError
from adaptlab.models import load_causal_lm
from adaptlab.serve.engines.batching.mixed_lora import MixedLora, read_lora_adapter

VARIED = "varied"  # rank 8 (2 on q_proj), rsLoRA scaling, every linear layer: unlike the fixture's r=4 q/v adapters


def _save_adapter(tiny_model, folder, **lora_options):
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(0)
    model = get_peft_model(load_causal_lm(tiny_model.path), LoraConfig(task_type="CAUSAL_LM", **lora_options))
    for name, param in model.named_parameters():
        if "lora_B" in name or "magnitude" in name:
            param.data = torch.randn_like(param) * 0.1
    model.save_pretrained(folder)
    return folder


def _peft_logits(tiny_model, adapter_dir, input_ids):
    from peft import PeftModel

    model = load_causal_lm(tiny_model.path)
    if adapter_dir is not None:
        model = PeftModel.from_pretrained(model, adapter_dir)
    with torch.inference_mode():
        return model.eval()(input_ids=input_ids).logits


@pytest.mark.parametrize("kernel", ["stacked", "gathered"])
def test_a_mixed_batch_matches_peft_row_by_row(tiny_model, world, tmp_path, kernel):
    adapter_dirs = {
        **world.adapter_dirs,
        VARIED: _save_adapter(
            tiny_model, tmp_path / VARIED, r=8, lora_alpha=16, use_rslora=True, target_modules="all-linear", rank_pattern={"q_proj": 2}
        ),
    }
    rows = ["acme/bot@v1", None, VARIED, "acme/helper@v1", "acme/bot@v1", VARIED]
    model = load_causal_lm(tiny_model.path).eval()
    lora = MixedLora(model, kernel)
    for name in {row for row in rows if row is not None}:
        lora.add(name, read_lora_adapter(open_adapter_folder(adapter_dirs[name]), lora.modules))
    input_ids = torch.randint(0, 200, (len(rows), 7), generator=torch.Generator().manual_seed(0))
    with torch.inference_mode(), lora.routed(rows):
        mixed = model(input_ids=input_ids).logits
    with torch.inference_mode():
        plain = model(input_ids=input_ids).logits  # outside `routed`: the base alone
    for index, name in enumerate(rows):
        expected = _peft_logits(tiny_model, adapter_dirs.get(name), input_ids[index : index + 1])
        torch.testing.assert_close(mixed[index : index + 1], expected, rtol=1e-5, atol=1e-5, msg=str(name))
    torch.testing.assert_close(plain, _peft_logits(tiny_model, None, input_ids))


@pytest.mark.parametrize("kernel", ["stacked", "gathered"])
def test_a_removed_adapter_no_longer_applies(tiny_model, world, kernel):
    model = load_causal_lm(tiny_model.path).eval()
    lora = MixedLora(model, kernel)
    lora.add("acme/bot@v1", read_lora_adapter(open_adapter_folder(world.adapter_dirs["acme/bot@v1"]), lora.modules))
    input_ids = torch.tensor([[5, 6, 7]])
    with torch.inference_mode(), lora.routed(["acme/bot@v1"]):
        adapted = model(input_ids=input_ids).logits
    lora.remove("acme/bot@v1")
    assert lora.adapters == {}
    with torch.inference_mode(), lora.routed([None]):
        base = model(input_ids=input_ids).logits
    assert not torch.allclose(adapted, base)
    torch.testing.assert_close(base, _peft_logits(tiny_model, None, input_ids))


def test_the_gathered_kernel_follows_rows_joining_and_leaving(tiny_model, world):
    """Routings change as rows join and leave a running batch: each routing's rows get the stacked kernel's
    output, and one adapter on every row (no per-row copies) too."""
    model = load_causal_lm(tiny_model.path).eval()
    stacked, gathered = MixedLora(model, "stacked"), MixedLora(model, "gathered")
    for name, folder in world.adapter_dirs.items():
        adapter = read_lora_adapter(open_adapter_folder(folder), stacked.modules)
        stacked.add(name, adapter)
        gathered.add(name, adapter)
    bot, helper = "acme/bot@v1", "acme/helper@v1"
    input_ids = torch.randint(0, 200, (4, 5), generator=torch.Generator().manual_seed(1))
    for routing in ([bot, helper, None, bot], [helper, None, bot], [bot, bot, bot, bot], [None, None, helper], [bot, helper, None, bot]):
        with torch.inference_mode():
            with stacked.routed(routing):
                expected = model(input_ids=input_ids[: len(routing)]).logits
            with gathered.routed(routing):
                got = model(input_ids=input_ids[: len(routing)]).logits
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5, msg=str(routing))


def test_dora_is_refused_with_a_pointer_to_merged_mode(tiny_model, tmp_path):
    folder = _save_adapter(tiny_model, tmp_path / "dora", r=4, target_modules=["q_proj"], use_dora=True)
    modules = dict(load_causal_lm(tiny_model.path).named_modules())
    with pytest.raises(CompatibilityError, match="use_dora.*--merge"):
        read_lora_adapter(open_adapter_folder(folder), modules)


@pytest.mark.parametrize(
    ("config", "refused"),
    [
        ({"use_dora": True}, ["use_dora"]),
        ({"bias": "all", "lora_bias": True}, ["bias", "lora_bias"]),
        ({"use_bdlora": {"blocks": 2}, "arrow_config": {"top_k": 1}}, ["arrow_config", "use_bdlora"]),
        ({"future_variant": True}, ["future_variant"]),  # a field this code has never heard of: refused, not ignored
    ],
)
def test_options_outside_the_known_neutral_set_are_refused(config, refused):
    from peft import LoraConfig

    from adaptlab.serve.engines.batching.mixed_lora import forward_changing_options

    plain = LoraConfig(r=4, target_modules="all-linear", task_type="CAUSAL_LM").to_dict()
    assert forward_changing_options(plain) == []
    assert forward_changing_options(plain | config) == refused
