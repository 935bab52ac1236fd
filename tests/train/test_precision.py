"""`--precision auto` picks bf16 only where the hardware computes it natively, and says why."""

import torch

from adaptlab.train.environment import choose_precision, cpu_flags, native_bf16_cpu_flags


def test_an_explicit_flag_wins():
    assert choose_precision("fp32") == ("fp32", "--precision fp32")
    assert choose_precision("bf16") == ("bf16", "--precision bf16")


def test_cpu_flags_are_read_from_cpuinfo(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse avx512f amx_bf16 amx_tile\n\nprocessor\t: 1\nflags\t\t: fpu sse\n")
    assert {"amx_bf16", "avx512f"} <= cpu_flags(cpuinfo)
    assert native_bf16_cpu_flags(cpu_flags(cpuinfo)) == ["amx_bf16"]
    assert native_bf16_cpu_flags({"avx512f", "avx2"}) == []
    assert cpu_flags(tmp_path / "absent") == set()


def test_auto_follows_this_machine():
    chosen, reason = choose_precision("auto")
    if torch.cuda.is_available():
        assert chosen == ("bf16" if torch.cuda.is_bf16_supported() else "fp32")
    else:
        assert chosen == ("bf16" if native_bf16_cpu_flags(cpu_flags()) else "fp32")
    assert reason.startswith("auto: ")
