import pytest

from adaptlab.compare.costs import CPU_PRICE_PER_VCPU_HOUR_USD, cost_usd, default_price, gpu_price


@pytest.mark.parametrize(
    ("device_name", "label", "price"),
    [
        ("NVIDIA H100 80GB HBM3", "H100", 3.95),
        ("NVIDIA H200", "H200", 4.54),
        ("NVIDIA A100-SXM4-80GB", "A100 80GB", 2.50),
        ("NVIDIA A100 80GB PCIe", "A100 80GB", 2.50),
        ("NVIDIA A100-SXM4-40GB", "A100 40GB", 2.10),
        ("NVIDIA L40S", "L40S", 1.95),
        ("NVIDIA A10G", "A10G", 1.10),
        ("NVIDIA L4", "L4", 0.80),
        ("Tesla T4", "T4", 0.59),
    ],
)
def test_gpu_prices_by_device_name(device_name, label, price):
    chosen = gpu_price(device_name)
    assert chosen.per_hour_usd == price
    assert f"default for {label} " in chosen.source


def test_unknown_gpu_falls_back_and_says_so():
    chosen = gpu_price("Imaginary GPU 9000")
    assert chosen.per_hour_usd == 1.10
    assert "unknown GPU 'Imaginary GPU 9000'" in chosen.source and "--price-per-hour" in chosen.source


def test_cpu_price_scales_with_cores():
    two = default_price({"cpu_cores": 2, "gpu": None})
    sixteen = default_price({"cpu_cores": 16, "gpu": None})
    assert two.per_hour_usd == pytest.approx(2 * CPU_PRICE_PER_VCPU_HOUR_USD)
    assert sixteen.per_hour_usd == pytest.approx(8 * two.per_hour_usd)
    assert "2 vCPU" in two.source


def test_default_price_prefers_the_gpu():
    assert default_price({"cpu_cores": 16, "gpu": "NVIDIA H100 80GB HBM3"}).per_hour_usd == 3.95


def test_cost_usd():
    assert cost_usd(1800, 2.0) == pytest.approx(1.0)
    assert cost_usd(0, 3.95) == 0.0
