"""`--model` specs → a local Hugging Face folder.

Accepted: `builtin:tiny`, `builtin:smollm2-135m`, `builtin:minilm` (an encoder, for classification), a local HF folder, a local `.gguf` file, or a
Hugging Face hub id (downloaded when the network allows).
"""

from dataclasses import dataclass
from pathlib import Path

from adaptlab.errors import ModelLoadError
from adaptlab.models import builtin
from adaptlab.models.encoder import ENCODER_NAME, installed_encoder_folder
from adaptlab.models.gguf import cached_conversion
from adaptlab.models.hashing import weights_sha256
from adaptlab.paths import cache_dir

BUILTINS = {
    "builtin:tiny": ("adaptlab/tiny-llama", builtin.tiny_dir),
    "builtin:smollm2-135m": ("HuggingFaceTB/SmolLM2-135M-Instruct", builtin.smollm2_dir),
    "builtin:minilm": (ENCODER_NAME, lambda _cache: installed_encoder_folder()),
}


@dataclass(frozen=True)
class ResolvedModel:
    spec: str
    model_id: str
    path: Path
    weights_sha256: str


def resolve_model(spec: str) -> ResolvedModel:
    path, model_id = _local_folder(spec)
    return ResolvedModel(spec=spec, model_id=model_id, path=path, weights_sha256=weights_sha256(path))


def _local_folder(spec: str) -> tuple[Path, str]:
    models_cache = cache_dir() / "models"
    if spec in BUILTINS:
        model_id, build = BUILTINS[spec]
        return build(models_cache), model_id
    if spec.startswith("builtin:"):
        raise ModelLoadError(f"unknown built-in model {spec!r}; choose one of: {', '.join(BUILTINS)}")
    candidate = Path(spec).expanduser()
    if candidate.is_file() and candidate.suffix == ".gguf":
        return cached_conversion(candidate, models_cache), candidate.stem
    if candidate.is_dir():
        if not (candidate / "config.json").is_file():
            raise ModelLoadError(f"{candidate}: not a Hugging Face model folder (no config.json)")
        return candidate, candidate.resolve().name
    if candidate.exists():
        raise ModelLoadError(f"{candidate}: expected a model folder, a .gguf file, a hub id or builtin:<name>")
    if spec.count("/") == 1 and not spec.startswith((".", "/", "~")):
        return _download(spec), spec
    raise ModelLoadError(f"{spec}: no such file or folder, and not a Hugging Face hub id (owner/name)")


def _download(repo_id: str) -> Path:
    from huggingface_hub import snapshot_download

    try:
        folder = snapshot_download(repo_id, allow_patterns=["*.json", "*.safetensors", "*.model", "*.txt", "*.jinja"])
    except Exception as exc:  # offline, unknown repo, gated repo: all mean "cannot get it from here"
        raise ModelLoadError(
            f"could not download {repo_id!r} from the Hugging Face hub ({type(exc).__name__}: {exc}). "
            "Without network access pass a local folder, a .gguf file or builtin:smollm2-135m."
        ) from exc
    return Path(folder)
