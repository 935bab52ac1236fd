"""A canonical hash of a model's weights: the same tensors give the same hash however they were saved."""

import hashlib
import json
import math
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


def count_parameters(model_dir: Path, *, allow_pickle: bool = False) -> int:
    """Parameters stored in the folder's weights (tied weights are stored, and counted, once): the
    safetensors, else with `allow_pickle` the pytorch_model*.bin files (tensors only, shared storage once)."""
    safetensors_files = sorted(Path(model_dir).glob("*.safetensors"))
    pickle_files = sorted(Path(model_dir).glob("pytorch_model*.bin"))
    if safetensors_files:
        total = sum(_safetensors_parameters(file) for file in safetensors_files)
    elif pickle_files and allow_pickle:
        total = sum(_pickle_parameters(file) for file in pickle_files)
    elif pickle_files:
        raise ArtifactError(f"{model_dir}: the weights are pickle files (pytorch_model*.bin); pass --allow-pickle only if you trust them")
    else:
        raise ArtifactError(f"{model_dir}: no weight files (*.safetensors or pytorch_model*.bin) to count parameters in")
    if total == 0:
        raise ArtifactError(f"{model_dir}: the weight files hold no parameters")
    return total


def _safetensors_parameters(file: Path) -> int:
    with safe_open(str(file), framework="pt") as handle:
        return sum(math.prod(handle.get_slice(name).get_shape()) for name in handle.keys())


def _pickle_parameters(file: Path) -> int:
    """Tensors only (`weights_only`); views of one storage, as torch.save keeps tied weights, count once."""
    import torch

    try:
        state = torch.load(file, map_location="cpu", mmap=True, weights_only=True)
    except Exception as exc:  # torch raises several types for damaged or non-tensor pickles
        raise ArtifactError(f"{file}: cannot read the weights ({type(exc).__name__}: {exc})") from exc
    storages = {}
    for tensor in state.values():
        storage = tensor.untyped_storage()
        storages[(storage.data_ptr(), tensor.storage_offset(), tuple(tensor.shape))] = tensor.numel()
    return sum(storages.values())
