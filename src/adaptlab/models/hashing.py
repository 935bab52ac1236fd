"""A canonical hash of a model's weights: the same tensors give the same hash however they were saved."""

import hashlib
import json
from pathlib import Path

from safetensors import safe_open

from adaptlab.errors import ArtifactError
from adaptlab.paths import cache_dir

_CHUNK_ELEMENTS = 1 << 22


def weights_sha256(model_dir: Path) -> str:
    """SHA-256 over (name, dtype, shape, bytes) of every tensor in the folder's safetensors, names sorted.

    Cached by (path, size, mtime) of the files, so repeated loads of a large base cost nothing.
    """
    files = sorted(Path(model_dir).glob("*.safetensors")) or sorted(Path(model_dir).glob("pytorch_model*.bin"))
    if not files:
        raise ArtifactError(f"{model_dir}: no weight files (*.safetensors or pytorch_model*.bin) to hash")
    key = json.dumps([[str(f.resolve()), f.stat().st_size, f.stat().st_mtime_ns] for f in files])
    cache_file = cache_dir() / "weights-hashes.json"
    cache = _read_cache(cache_file)
    if key in cache:
        return cache[key]
    digest = _hash_tensors(files) if files[0].suffix == ".safetensors" else _hash_file_bytes(files)
    cache[key] = digest
    from adaptlab import atomic

    atomic.write_text(cache_file, json.dumps(cache))
    return digest


def _hash_tensors(files: list[Path]) -> str:
    handles = [safe_open(str(f), framework="pt") for f in files]
    located = sorted((name, handle) for handle in handles for name in handle.keys())
    digest = hashlib.sha256()
    for name, handle in located:
        tensor = handle.get_tensor(name).contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}\n".encode())
        flat = tensor.reshape(-1).view(torch_uint8_view_dtype(tensor))
        for start in range(0, flat.numel(), _CHUNK_ELEMENTS):
            digest.update(flat[start : start + _CHUNK_ELEMENTS].numpy().tobytes())
    return digest.hexdigest()


def file_sha256(path: Path) -> str:
    """SHA-256 of one file's bytes."""
    return _hash_file_bytes([Path(path)])


def _hash_file_bytes(files: list[Path]) -> str:
    """Pickle-based weights are hashed as files (never unpickled just to hash them)."""
    digest = hashlib.sha256()
    for file in files:
        with file.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def torch_uint8_view_dtype(tensor):
    """An integer dtype of the same width, so any float type (bf16 too) can be read as raw bytes."""
    import torch

    return {1: torch.uint8, 2: torch.int16, 4: torch.int32, 8: torch.int64}[tensor.element_size()]


def _read_cache(path: Path) -> dict[str, str]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def count_parameters(model_dir: Path) -> int:
    """Parameters stored in the folder's safetensors (tied weights are stored, and counted, once)."""
    total = 0
    for file in sorted(Path(model_dir).glob("*.safetensors")):
        with safe_open(str(file), framework="pt") as handle:
            for name in handle.keys():
                shape = handle.get_slice(name).get_shape()
                count = 1
                for dim in shape:
                    count *= dim
                total += count
    return total
