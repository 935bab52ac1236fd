"""The general reference set that forgetting is measured on (adaptlab.compare.schema.forgetting_percent):
per-token loss on a reference text (the built-in one, a few paragraphs of general knowledge and everyday English written for
adaptlab, or the user's `--reference FILE`). Positive means the model forgot; negative means it improved.
"""

from importlib import resources
from pathlib import Path

from adaptlab.data import Example
from adaptlab.errors import DataError

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
