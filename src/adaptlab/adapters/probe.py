"""Compare two models by their logits on a few fixed prompts: how merges and combinations are verified."""

PROBE_PROMPTS = (
    "The capital of France is",
    "def fibonacci(n):\n    ",
    "Write a haiku about autumn leaves.",
    "Q: What is 17 times 3?\nA:",
)


def probe_inputs(tokenizer, prompts: tuple[str, ...] = PROBE_PROMPTS) -> list:
    """One token-id tensor per prompt (no padding, so no attention-mask effects in the comparison)."""
    return [tokenizer(prompt, return_tensors="pt").input_ids for prompt in prompts]


def probe_logits(model, inputs: list) -> list:
    """Logits for every prompt, on CPU in fp32."""
    import torch

    device = next(model.parameters()).device
    with torch.inference_mode():
        return [model(input_ids=ids.to(device)).logits.float().cpu() for ids in inputs]


def max_abs_difference(logits_a: list, logits_b: list) -> float:
    return max(float((a - b).abs().max()) for a, b in zip(logits_a, logits_b, strict=True))


def max_abs_value(logits: list) -> float:
    return max(float(x.abs().max()) for x in logits)
