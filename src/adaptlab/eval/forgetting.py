"""The general reference set that forgetting is measured on (adaptlab.compare.schema.forgetting_percent):
per-token loss on a reference text (the built-in one, general knowledge and everyday English written for adaptlab,
or the user's `--reference FILE`). Positive means the model forgot; negative means it improved. Alongside it, the
KL of the tuned model's next-token distributions from the base's (adaptlab.eval.kl), each with its interval.
"""

from importlib import resources
from pathlib import Path

from adaptlab.data import Example
from adaptlab.errors import DataError
from adaptlab.eval.intervals import per_token_mean, relative_change_percent
from adaptlab.eval.kl import PairedTokenSums
from adaptlab.schemas.forgetting import ForgettingSignals

REFERENCE_CHUNK_TOKENS = 256


def reference_text(path: Path | None = None) -> str:
    if path is None:
        return resources.files("adaptlab.eval").joinpath("reference_text.txt").read_text(encoding="utf-8")
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read the reference text ({exc})") from exc
    if not text.strip():
        raise DataError(f"{path}: the reference text is empty")
    return text


def reference_examples(tokenizer, text: str, chunk_tokens: int = REFERENCE_CHUNK_TOKENS) -> list[Example]:
    """The text as consecutive chunks of `chunk_tokens` tokens, every token a target."""
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    chunks = [ids[start : start + chunk_tokens] for start in range(0, len(ids), chunk_tokens)]
    return [Example(input_ids=chunk, labels=list(chunk)) for chunk in chunks if len(chunk) > 1]


def forgetting_signals(reference: PairedTokenSums, held: PairedTokenSums | None) -> ForgettingSignals:
    """Reference loss before/after and KL from the base, from the paired passes (adaptlab.eval.kl) of both models over
    the reference text and, when there is one, the held-out set."""
    return ForgettingSignals(
        reference_loss_before=per_token_mean(reference.base_loss, reference.tokens),
        reference_loss_after=per_token_mean(reference.tuned_loss, reference.tokens),
        forgetting_percent=relative_change_percent(reference.base_loss, reference.tuned_loss),
        kl_reference=per_token_mean(reference.kl, reference.tokens),
        kl_held_out=per_token_mean(held.kl, held.tokens) if held is not None else None,
    )
