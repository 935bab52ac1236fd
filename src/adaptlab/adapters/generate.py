"""One-shot text generation from a base, a merged model, or a base with stacked adapters."""

import time
from dataclasses import dataclass

from adaptlab.errors import ConfigError
from adaptlab.eval.generation import uncached_greedy
from adaptlab.train.loss import adds_virtual_tokens


@dataclass(frozen=True)
class Generation:
    text: str
    prompt_tokens: int
    new_tokens: int
    seconds: float
    used_chat_template: bool

    @property
    def tokens_per_s(self) -> float:
        return self.new_tokens / self.seconds if self.seconds > 0 else 0.0


def format_prompt(tokenizer, prompt: str, system: str | None = None) -> tuple[str, bool]:
    """The text to feed the model, and whether the tokenizer's chat template produced it."""
    if not getattr(tokenizer, "chat_template", None):
        return (f"{system}\n\n{prompt}" if system else prompt), False
    messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": prompt}]
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True), True


def generate_text(
    model,
    tokenizer,
    prompt: str,
    *,
    system: str | None = None,
    max_new_tokens: int = 128,
    temperature: float = 0.0,
    seed: int = 0,
) -> Generation:
    """Greedy decoding by default; `temperature > 0` samples (seeded)."""
    import torch

    text, templated = format_prompt(tokenizer, prompt, system)
    encoded = tokenizer(text, return_tensors="pt", add_special_tokens=not templated)
    device = next(model.parameters()).device
    sampling = {"do_sample": True, "temperature": temperature, "top_p": 1.0, "top_k": 0} if temperature > 0 else {"do_sample": False}
    torch.manual_seed(seed)
    started = time.perf_counter()
    if adds_virtual_tokens(model):  # prompt/prefix tuning: PEFT's generate loses the virtual tokens (eval.generation)
        if temperature > 0:
            raise ConfigError("--temperature: prompt/prefix tuning adapters decode greedily only (--temperature 0)")
        new_ids = torch.tensor(uncached_greedy(model, encoded.input_ids[0].tolist(), max_new_tokens, {tokenizer.eos_token_id}), dtype=torch.long)
        seconds = time.perf_counter() - started
    else:
        with torch.inference_mode():
            output = model.generate(
                **{k: v.to(device) for k, v in encoded.items()},
                max_new_tokens=max_new_tokens,
                pad_token_id=tokenizer.pad_token_id,
                **sampling,
            )
        seconds = time.perf_counter() - started
        new_ids = output[0, encoded.input_ids.shape[1]:]
    return Generation(
        text=tokenizer.decode(new_ids, skip_special_tokens=True),
        prompt_tokens=int(encoded.input_ids.shape[1]),
        new_tokens=int(new_ids.shape[0]),
        seconds=seconds,
        used_chat_template=templated,
    )
