"""Default prices per hour, so a comparison can state a cost per run without `--price-per-hour`.

Sources (on-demand list prices, USD, checked 2026; prices change — pass `--price-per-hour` for yours):
- GPUs: per-GPU prices of Modal's serverless GPUs (https://modal.com/pricing), one GPU billed per
  second, CPU and RAM not included: T4 0.59, L4 0.80, A10G 1.10, L40S 1.95, A100 40 GB 2.10,
  A100 80 GB 2.50, H100 3.95, H200 4.54.
- CPU: AWS EC2 c7i.large (2 vCPU, 4 GiB, Linux, us-east-1) at 0.08925 per hour, i.e. 0.044625 per vCPU;
  a machine with n cores is priced as n vCPUs of that family (c7i sizes scale linearly).
- A GPU not in the table falls back to the A10G price, and the source says so.
"""

import re
from dataclasses import dataclass

CPU_PRICE_PER_VCPU_HOUR_USD = 0.044625
FALLBACK_GPU = "A10G"

# Checked in order: the first pattern found in the device name wins (A100 80GB before A100).
GPU_PRICES_PER_HOUR_USD: tuple[tuple[str, str, float], ...] = (
    ("H200", r"H200", 4.54),
    ("H100", r"H100", 3.95),
    ("A100 80GB", r"A100.*80\s*GB", 2.50),
    ("A100 40GB", r"A100", 2.10),
    ("L40S", r"L40S", 1.95),
    ("A10G", r"A10G?\b", 1.10),
    ("L4", r"\bL4\b", 0.80),
    ("T4", r"\bT4\b", 0.59),
)


@dataclass(frozen=True)
class Price:
    per_hour_usd: float
    source: str = "--price-per-hour"


def default_price(hardware: dict[str, str | int | float | None]) -> Price:
    """The documented default for the hardware a run recorded (`run.json` environment.hardware: gpu, cpu_cores)."""
    gpu = hardware.get("gpu")
    if gpu:
        return gpu_price(str(gpu))
    cores = int(hardware.get("cpu_cores") or 2)
    return Price(
        round(cores * CPU_PRICE_PER_VCPU_HOUR_USD, 6),
        f"default for CPU: {cores} vCPU × ${CPU_PRICE_PER_VCPU_HOUR_USD}/h (AWS c7i on-demand, us-east-1)",
    )


def gpu_price(device_name: str) -> Price:
    for label, pattern, price in GPU_PRICES_PER_HOUR_USD:
        if re.search(pattern, device_name, flags=re.IGNORECASE):
            return Price(price, f"default for {label} (Modal per-GPU list price): ${price}/h")
    fallback = next(price for label, _, price in GPU_PRICES_PER_HOUR_USD if label == FALLBACK_GPU)
    return Price(fallback, f"unknown GPU {device_name!r}: {FALLBACK_GPU} default ${fallback}/h; pass --price-per-hour")


def cost_usd(seconds: float, price_per_hour_usd: float) -> float:
    """Cost of `seconds` of machine time at `price_per_hour_usd`."""
    return seconds / 3600.0 * price_per_hour_usd


def cpu_time_cost_usd(cpu_time_s: float, cpu_cores: int, price_per_hour_usd: float) -> float:
    """The machine's price per core × the core-hours the run used: its cost had it had the machine to itself.
    Used when wall times are not comparable, because CPU time hardly changes when other work competes for the cores."""
    return cost_usd(cpu_time_s / max(cpu_cores, 1), price_per_hour_usd)
