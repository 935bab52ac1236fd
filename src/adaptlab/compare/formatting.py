"""How figures are written for people: one format per kind of quantity, shared by reports, charts and recommendations."""

from collections.abc import Callable

from adaptlab.stats.intervals import Interval
from adaptlab.train.progress import format_bytes

__all__ = ["format_bytes", "format_count", "format_duration", "format_interval", "format_lr", "format_share", "format_usd",
           "format_with_interval"]


def format_lr(learning_rate: float) -> str:
    """2e-4, 1.5e-5: scientific notation without padding zeros."""
    mantissa, exponent = f"{learning_rate:.2e}".split("e")
    return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"


def format_count(n: float) -> str:
    """134.5M, 4.884M, 61.44k, 512: four significant digits at most."""
    for factor, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= factor:
            return f"{n / factor:.4g}{suffix}"
    return f"{n:g}"


def format_duration(seconds: float) -> str:
    """42.1 s, 3 min 07 s, 2 h 05 min."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes} min {secs:02d} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


def format_usd(amount: float) -> str:
    """$0.0024 below a dollar (runs on small models cost fractions of a cent), $12.50 above."""
    if amount == 0:
        return "$0"
    if amount < 0.0001:
        return "< $0.0001"
    return f"${amount:.4f}" if amount < 1 else f"${amount:,.2f}"


def format_share(part: float, whole: float) -> str:
    """`part` as a percentage of `whole`: 3.6 %, 54 %."""
    if whole == 0:
        return "n/a"
    share = 100.0 * part / whole
    return f"{share:.1f} %" if share < 10 else f"{share:.0f} %"


def format_interval(interval: Interval | None, fmt: Callable[[float], str], *, level: bool = True) -> str:
    """'(95 % CI 90.6–103.1)', '(90.6–103.1)' without the level, '' without an interval."""
    if interval is None:
        return ""
    prefix = f"{100 * interval.level:.0f} % CI " if level else ""
    return f"({prefix}{fmt(interval.low)}–{fmt(interval.high)})"


def format_with_interval(value: float, interval: Interval | None, fmt: Callable[[float], str], *, level: bool = True) -> str:
    """'96.9 (95 % CI 90.6–103.1)', or the value alone without an interval."""
    return f"{fmt(value)} {format_interval(interval, fmt, level=level)}".rstrip()
