"""Rows decoded together, token by token, each with its own adapter, sampling settings and stopping
point. Rows join a running batch after their own prefill and leave as soon as they finish
(continuous batching). Left padding plus explicit position ids keep every row's tokens the same as
decoding it alone (greedy). A failure that belongs to one row (its sampling, its callbacks) ends that
row alone; the others decode on."""

import logging
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, suppress
from dataclasses import dataclass, field

log = logging.getLogger(__name__)
Routed = Callable[[Sequence[str | None]], AbstractContextManager]  # the context a forward pass over these rows' adapters runs in


@dataclass
class DecodeRow:
    """One request's part of a batch. `emit_token(id)` per new token, `finish(reason)` once at the end."""

    prompt_ids: list[int]
    max_new_tokens: int
    temperature: float
    top_p: float
    seed: int | None
    stop_token_ids: frozenset[int]
    emit_token: Callable[[int], None]
    finish: Callable[[str], None]
    fail: Callable[[Exception], None]
    is_cancelled: Callable[[], bool] = field(default=lambda: False)
    produced: int = 0
    done: bool = False
    generator: object = None

    def __post_init__(self) -> None:
        self.generator = _generator(self.seed)

    def advance(self, logits) -> int:
        """Sample this row's next token from its logits and record it (unless cancelled); returns the token.
        If anything here fails, the row is failed and done, and the batch carries on without it."""
        token_id = 0  # any id will do for a failed row: it leaves the batch before the next step
        try:
            token_id = choose_token(logits, self.temperature, self.top_p, self.generator)
            if self.is_cancelled():
                self.done = True
            else:
                self.accept(token_id)
        except Exception as exc:  # contained to this row
            log.exception("one row of the batch failed; the others go on")
            self.done = True
            with suppress(Exception):  # a row that cannot even be told has nobody left to tell
                self.fail(exc)
        return token_id

    def accept(self, token_id: int) -> None:
        """Record one sampled token: emit it, or finish on a stop token or at max_new_tokens."""
        self.produced += 1
        if token_id in self.stop_token_ids:
            self.done = True
            self.finish("stop")
            return
        self.emit_token(token_id)
        if self.produced >= self.max_new_tokens:
            self.done = True
            self.finish("length")


def choose_token(logits, temperature: float, top_p: float, generator) -> int:
    """Greedy at temperature 0; otherwise nucleus sampling from softmax(logits / temperature)."""
    import torch

    if temperature == 0:
        return int(torch.argmax(logits))
    probs = torch.softmax(logits / temperature, dim=-1)
    if top_p < 1.0:
        sorted_probs, order = torch.sort(probs, descending=True)
        outside = sorted_probs.cumsum(-1) - sorted_probs > top_p
        sorted_probs[outside] = 0
        probs = torch.zeros_like(probs).scatter(0, order, sorted_probs)
    return int(torch.multinomial(probs, 1, generator=generator))


def left_padded(prompts: Sequence[list[int]], pad_token_id: int):
    """(input_ids, attention_mask, position_ids) with prompts aligned at the right edge."""
    import torch

    width = max(len(p) for p in prompts)
    input_ids = torch.full((len(prompts), width), pad_token_id, dtype=torch.long)
    attention_mask = torch.zeros((len(prompts), width), dtype=torch.long)
    for row, prompt in enumerate(prompts):
        input_ids[row, width - len(prompt) :] = torch.tensor(prompt, dtype=torch.long)
        attention_mask[row, width - len(prompt) :] = 1
    position_ids = (attention_mask.cumsum(-1) - 1).clamp(min=0)
    return input_ids, attention_mask, position_ids


class RunningBatch:
    """The rows being decoded, their adapters (`routing`: a version ref, or None for the served model as is,
    per row), KV cache, attention mask and next positions. Each forward pass runs inside `routed(routing)`."""

    def __init__(self, pad_token_id: int):
        self.pad_token_id = pad_token_id
        self._reset()

    def _reset(self) -> None:
        self.rows: list[DecodeRow] = []
        self.routing: list[str | None] = []
        self.cache = None
        self.attention_mask = None
        self.next_positions = None
        self.last_tokens = None

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def can_join(self) -> bool:
        """Whether rows may join mid-run: only with plain (non-sliding) KV cache layers."""
        return self.cache is None or all(type(layer).__name__ == "DynamicLayer" for layer in self.cache.layers)

    def add(self, model, rows: list[DecodeRow], routing: list[str | None], routed: Routed) -> None:
        """Prefill the new rows, take each one's first token, then merge them into the running batch."""
        import torch

        input_ids, attention_mask, position_ids = left_padded([row.prompt_ids for row in rows], self.pad_token_id)
        with routed(routing):
            logits, cache = _forward(model, input_ids, attention_mask, position_ids, None)
        first_tokens = [row.advance(logits[i]) for i, row in enumerate(rows)]
        new_positions = position_ids[:, -1:] + 1
        new_tokens = torch.tensor(first_tokens, dtype=torch.long)[:, None]
        if self.cache is None:
            self.cache, self.attention_mask, self.next_positions, self.last_tokens = cache, attention_mask, new_positions, new_tokens
        else:
            self.attention_mask = _merge_caches(self.cache, self.attention_mask, cache, attention_mask)
            self.next_positions = torch.cat([self.next_positions, new_positions])
            self.last_tokens = torch.cat([self.last_tokens, new_tokens])
        self.rows += rows
        self.routing += routing
        self._drop_finished()

    def step(self, model, routed: Routed) -> None:
        """One new token for every row, then drop the rows that finished."""
        import torch

        self.attention_mask = torch.cat([self.attention_mask, torch.ones((len(self.rows), 1), dtype=torch.long)], dim=1)
        with routed(self.routing):
            logits, self.cache = _forward(model, self.last_tokens, self.attention_mask, self.next_positions, self.cache)
        tokens = [row.advance(logits[index]) for index, row in enumerate(self.rows)]
        self.last_tokens = torch.tensor(tokens, dtype=torch.long)[:, None]
        self.next_positions = self.next_positions + 1
        self._drop_finished()

    def fail_all(self, error: Exception) -> None:
        """Tell every unfinished row that decoding failed, and start over empty."""
        for row in self.rows:
            if not row.done:
                row.fail(error)
        self._reset()

    def _drop_finished(self) -> None:
        import torch

        keep = [i for i, row in enumerate(self.rows) if not (row.done or row.is_cancelled())]
        if len(keep) == len(self.rows):
            return
        if not keep:
            self._reset()
            return
        index = torch.tensor(keep, dtype=torch.long)
        self.rows = [self.rows[i] for i in keep]
        self.routing = [self.routing[i] for i in keep]
        self.cache.batch_select_indices(index)
        self.attention_mask = self.attention_mask[index]
        self.next_positions = self.next_positions[index]
        self.last_tokens = self.last_tokens[index]
        unused_columns = int((self.attention_mask.sum(0) == 0).long().cumprod(0).sum())  # leading columns no row attends to
        if unused_columns:
            self.attention_mask = self.attention_mask[:, unused_columns:]
            for layer in self.cache.layers:
                layer.keys, layer.values = layer.keys[..., unused_columns:, :], layer.values[..., unused_columns:, :]


def _forward(model, input_ids, attention_mask, position_ids, cache):
    """(last-position logits on the CPU, updated KV cache)."""
    import torch
    from transformers import DynamicCache

    device = next(model.parameters()).device
    with torch.inference_mode():
        output = model(
            input_ids=input_ids.to(device),
            attention_mask=attention_mask.to(device),
            position_ids=position_ids.to(device),
            past_key_values=cache if cache is not None else DynamicCache(),
            use_cache=True,
            logits_to_keep=1,
        )
    return output.logits[:, -1, :].float().cpu(), output.past_key_values


def _merge_caches(cache, attention_mask, joining, joining_mask):
    """Append `joining`'s rows to `cache` in place, left-padding the shorter one; returns the merged attention mask."""
    import torch
    import torch.nn.functional as F

    width = max(attention_mask.shape[1], joining_mask.shape[1])

    def padded(tensor, length_dim: int):
        missing = width - tensor.shape[length_dim]
        if not missing:
            return tensor
        pad = [0, 0] * (tensor.dim() - 1 - (length_dim % tensor.dim())) + [missing, 0]
        return F.pad(tensor, pad)

    for layer, joining_layer in zip(cache.layers, joining.layers):
        layer.keys = torch.cat([padded(layer.keys, -2), padded(joining_layer.keys, -2)])
        layer.values = torch.cat([padded(layer.values, -2), padded(joining_layer.values, -2)])
    return torch.cat([padded(attention_mask, 1), padded(joining_mask, 1)])


def _generator(seed: int | None):
    import torch

    generator = torch.Generator()
    if seed is None:
        generator.seed()
    else:
        generator.manual_seed(seed)
    return generator
