"""Facts about where a run happened, for run.json: library versions, code commit, hardware, peak memory,
the precision the hardware computes fastest; and whether the launcher started the processes the run believes it has."""

import ctypes
import os
import platform
import resource
import subprocess
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Literal

import adaptlab
from adaptlab.errors import ConfigError
from adaptlab.schemas.run_record import EnvironmentInfo

LIBRARIES = ("torch", "transformers", "peft", "accelerate", "bitsandbytes", "safetensors", "tokenizers")


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def git_commit() -> str | None:
    """The commit of the adaptlab checkout this code runs from (None when installed from a wheel)."""
    source = Path(adaptlab.__file__).resolve().parent
    try:
        result = subprocess.run(["git", "-C", str(source), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout.strip() or None if result.returncode == 0 else None


WORLD_SIZE_VARIABLES = ("WORLD_SIZE", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE")  # torchrun, MPI
DATA_PARALLEL_LAUNCH = "accelerate launch --multi_gpu --num_processes N (without a GPU it runs on CPU over gloo)"


def check_world_size(processes: int, environ: Mapping[str, str] = os.environ) -> None:
    """Refuse a launch whose processes do not form one data-parallel group: each would train alone on all
    the data and write the same --out."""
    launched = next((name for name in WORLD_SIZE_VARIABLES if name in environ), None)
    if launched and int(environ[launched]) != processes:
        raise ConfigError(
            f"the launcher started {environ[launched]} processes ({launched}) but they did not join one group "
            f"(this process sees {processes}); launch data-parallel runs with {DATA_PARALLEL_LAUNCH}"
        )
    # accelerate's single-process launcher sets ACCELERATE_USE_CPU, and MASTER_ADDR only when asked for several
    if not launched and "ACCELERATE_USE_CPU" in environ and "MASTER_ADDR" in environ:
        raise ConfigError(
            "accelerate launch was asked for several processes but started this one alone (with --cpu, or with "
            f"one GPU or none, it starts no others); use {DATA_PARALLEL_LAUNCH}, or --num_processes 1 "
            "(MASTER_ADDR is set, WORLD_SIZE is not)"
        )


def check_not_launched(command: str, environ: Mapping[str, str] = os.environ) -> None:
    """Refuse a command that starts training processes of its own (compare) run as one of several launched processes:
    each copy would train and report the same runs."""
    launched = next((name for name in WORLD_SIZE_VARIABLES if int(environ.get(name, "1")) > 1), None)
    if launched:
        raise ConfigError(
            f"adaptlab {command} starts each run's training processes itself, so run it as one process, not under a "
            f"launcher ({launched}={environ[launched]}); give it --launcher accelerate --accelerate-config FILE or --launcher ray"
        )


def hardware() -> dict[str, str | int | float | None]:
    import torch

    info: dict[str, str | int | float | None] = {
        "platform": platform.platform(),
        "cpu": platform.processor() or platform.machine(),
        "cpu_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }
    return info


# CPU flags of instructions that compute bf16 natively (AVX512-BF16 dot products, AMX tiles): autocast pays off there.
NATIVE_BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


def choose_precision(requested: Literal["auto", "fp32", "bf16"]) -> tuple[Literal["fp32", "bf16"], str]:
    """The precision a run trains in, and why: a flag wins; `auto` is bf16 autocast where the hardware
    computes bf16 natively (a CUDA GPU with bf16, a CPU with AVX512-BF16 or AMX), fp32 elsewhere."""
    import torch

    if requested != "auto":
        return requested, f"--precision {requested}"
    if torch.cuda.is_available():
        name = torch.cuda.get_device_name(0)
        if torch.cuda.is_bf16_supported():
            return "bf16", f"auto: {name} computes bf16 natively"
        return "fp32", f"auto: {name} has no native bf16"
    flags = native_bf16_cpu_flags(cpu_flags())
    if flags:
        return "bf16", f"auto: the CPU computes bf16 natively ({', '.join(flags)})"
    return "fp32", "auto: the CPU has no native bf16 (no avx512_bf16 or amx_bf16 flag); bf16 would be emulated, slower than fp32"


def native_bf16_cpu_flags(flags: set[str]) -> list[str]:
    return [flag for flag in NATIVE_BF16_CPU_FLAGS if flag in flags]


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> set[str]:
    """The CPU's feature flags from /proc/cpuinfo (empty off Linux)."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return set()
    return {flag for line in text.splitlines() if line.startswith("flags") for flag in line.partition(":")[2].split()}


def environment_info() -> EnvironmentInfo:
    return EnvironmentInfo(
        adaptlab_version=adaptlab.__version__, git_commit=git_commit(), libraries=library_versions(), hardware=hardware()
    )


def reset_peak_memory() -> None:
    """Start a new peak: CUDA's counter, or on Linux the process's RSS high-water mark (clear_refs 5)."""
    import torch

    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
        return
    release_freed_heap()
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
    except OSError:
        pass  # not Linux: the peak keeps counting from process start


def release_freed_heap() -> None:
    """Return memory that loading freed (e.g. fp32 weights after 4-bit quantization) to the OS; glibc keeps it otherwise."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass  # not glibc


def peak_memory() -> tuple[int, str]:
    """Peak memory of this process: CUDA max allocated on GPU, else the process's peak RSS."""
    import torch

    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated(), "cuda_max_allocated"
    return peak_rss_bytes(), "process_rss"


def peak_rss_bytes() -> int:
    """This process's RSS high-water mark (VmHWM), which clear_refs resets. getrusage's ru_maxrss is no
    substitute: it also keeps the parent's RSS at fork/exec, so a child of a big process reports the parent's peak."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # not Linux
