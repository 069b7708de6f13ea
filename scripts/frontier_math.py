"""What scripts/hindsight-keeps.py and scripts/timeline-ratio.py share with the replay: its durations and the keep-alive
curve's interpolation (docs/replay.md)."""

import bisect
import re


def duration_ms(text):
    """'7d', '84h', '90m', '600s', '1500ms' or a plain number of ms, as the replay's --from and --to; None if it is
    none of these."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*", text)
    if not match:
        return None
    unit = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}[match.group(2) or "ms"]
    return float(match.group(1)) * unit


def interpolate(x, xs, ys):
    """Linear on the points (xs ascending), clamped at the ends, as the frontier's curve."""
    if x <= xs[0]:
        return ys[0]
    if x >= xs[-1]:
        return ys[-1]
    i = bisect.bisect_right(xs, x)
    f = (x - xs[i - 1]) / (xs[i] - xs[i - 1])
    return ys[i - 1] + f * (ys[i] - ys[i - 1])
