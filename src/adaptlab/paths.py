"""Where adaptlab keeps its caches (converted models, hashes). Override with ADAPTLAB_CACHE."""

import os
from pathlib import Path


def cache_dir() -> Path:
    root = os.environ.get("ADAPTLAB_CACHE") or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "adaptlab"
    path = Path(root)
    path.mkdir(parents=True, exist_ok=True)
    return path
