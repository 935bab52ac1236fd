"""QLoRA's gradients are LoRA's gradients on the dequantized base, also after an evaluation pass
(bitsandbytes' CPU inference repacking must not cut the gradient through the frozen 4-bit weights)."""

import bitsandbytes as bnb
import torch

from adaptlab.methods import get_method
from adaptlab.train.loss import TargetTokenLoss
from tests.train.helpers import tiny_config

INPUT = torch.tensor([[5, 17, 99, 42, 7, 230, 64, 12, 3, 150, 77, 8]])


def lora_gradients(model) -> dict[str, torch.Tensor]:
    model.zero_grad()
    TargetTokenLoss(model).train()(input_ids=INPUT, labels=INPUT).backward()
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}


def test_qlora_gradients_match_lora_on_the_dequantized_base(tmp_path, tiny_model):
    config = tiny_config(tmp_path, "qlora", dropout=0.0)
    qlora = get_method("qlora").prepare(tiny_model, config)
    lora = get_method("lora").prepare(tiny_model, config)
    with torch.no_grad():
        for name, module in qlora.named_modules():
            if isinstance(module, bnb.nn.Linear4bit):
                dequantized = bnb.functional.dequantize_4bit(module.weight.data, module.weight.quant_state)
                lora.get_submodule(name).weight.copy_(dequantized)
        torch.manual_seed(0)
        for (name, q_param), (_, l_param) in zip(qlora.named_parameters(), lora.named_parameters()):
            if q_param.requires_grad:
                l_param.copy_(torch.randn_like(l_param) * 0.1)
                q_param.copy_(l_param)
        qlora.eval()(input_ids=INPUT)  # an evaluation pass first, as the training loop does at step 0
    expected, actual = lora_gradients(lora), lora_gradients(qlora)
    assert expected.keys() == actual.keys()
    for name in expected:
        torch.testing.assert_close(actual[name], expected[name], atol=1e-4, rtol=1e-3, msg=name)
