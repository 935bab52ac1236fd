"""builtin:tiny's matrices are too small for torch's thread pool: on a busy 2-core machine two threads made a
tiny training step about ten times slower than one (measured: 8 steps in 5.5 s vs 0.35 s)."""

import os
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def one_torch_thread() -> Iterator[None]:
    """One torch thread here, and in the training subprocesses `compare` starts (OMP_NUM_THREADS)."""
    import torch

    threads, variable = torch.get_num_threads(), os.environ.get("OMP_NUM_THREADS")
    torch.set_num_threads(1)
    os.environ["OMP_NUM_THREADS"] = "1"
    try:
        yield
    finally:
        torch.set_num_threads(threads)
        if variable is None:
            os.environ.pop("OMP_NUM_THREADS", None)
        else:
            os.environ["OMP_NUM_THREADS"] = variable
