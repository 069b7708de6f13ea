#!/usr/bin/env python3
"""Each arm's ratio to the keep-alive curve over a part of a replay, from its report's timeline (docs/replay.md).

Usage, from the repository root:
  build/bin/warmup-replay --config CONFIG --trace TRACE --frontier --out out/run
  scripts/timeline-ratio.py out/run/report.json --from 7d [--to 14d] [--compulsory N]

A replay's ratio covers the whole trace, the policies' first hours (when they know nothing) included. Replaying a part
alone (`--from`) starts every arm from an empty state instead. This reads the part from a whole replay: every arm's
timeline buckets (report.json, `replay.timeline_buckets` of them) that start at or after --from and end at or before
--to, their cold requests and memory-time (mean resident memory x width), and divides each arm's avoidable cold
requests over them by the keep-alive curve's at the same memory, over the same buckets (linear between the curve's
points, clamped at its ends, as the report's ratio). Avoidable = cold - compulsory; the cold requests no policy avoids
in the part are the first wake-ups of the models first seen in it, which the report does not hold: give their count
with --compulsory (scripts/hindsight-keeps.py --learn-until prints it for the part after its time), 0 by default.
The part starts at the first bucket boundary at or after --from; the span used is printed.
"""

import argparse
import json
import sys

from frontier_math import duration_ms, interpolate

MS_PER_GB_H = 1024 * 3_600_000  # MiB x ms in one GB·h


def part_of(arm, from_ms, to_ms):
    """(cold requests, GB·h, first start, last end) over the arm's buckets within [from_ms, to_ms]."""
    cold, memory, start, end = 0, 0.0, None, None
    for bucket in arm.get("timeline") or []:
        bucket_end = bucket["start_ms"] + bucket["width_ms"]
        if bucket["start_ms"] < from_ms or bucket_end > to_ms:
            continue
        cold += bucket["cold_requests"]
        memory += (bucket["mean_resident_mb"] or 0.0) * bucket["width_ms"] / MS_PER_GB_H
        start = bucket["start_ms"] if start is None else start
        end = bucket_end
    return cold, memory, start, end


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", help="a replay's report.json (replayed with --frontier)")
    parser.add_argument("--from", dest="from_text", required=True, help="the part's start (7d, 84h, 90m, 600s, ms)")
    parser.add_argument("--to", dest="to_text", help="the part's end (default: the end of the replay)")
    parser.add_argument("--compulsory", type=int, default=0, help="cold requests no policy avoids in the part")
    args = parser.parse_args()
    from_ms = duration_ms(args.from_text)
    to_ms = float("inf") if args.to_text is None else duration_ms(args.to_text)
    if from_ms is None or to_ms is None:
        sys.exit(f"timeline-ratio: --from '{args.from_text}' / --to '{args.to_text}' is not a time "
                 "(7d, 84h, 90m, 600s, ms)")
    if args.compulsory < 0:
        sys.exit("timeline-ratio: --compulsory must be 0 or more")
    try:
        with open(args.report, encoding="utf-8") as f:
            report = json.load(f)
        arms = report["arms"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        sys.exit(f"timeline-ratio: '{args.report}' is not a replay's report.json ({error})")

    curve = []  # (GB·h, avoidable, keep in ms) of the keep-alive curve's arms over the part
    for arm in arms:
        if arm.get("frontier_curve"):
            cold, memory, _, _ = part_of(arm, from_ms, to_ms)
            curve.append((memory, cold - args.compulsory, arm.get("frontier_ttl_ms", 0)))
    if len(curve) < 2:
        sys.exit(f"timeline-ratio: '{args.report}' has no keep-alive curve (replay with --frontier)")
    curve.sort()
    curve_memory = [c[0] for c in curve]
    curve_avoidable = [c[1] for c in curve]
    reference = next((c for c in curve if c[2] == 20 * 60_000), None)  # keep-alive 20 min, the lean ceiling's

    print(f"{'arm':<28} {'span (h)':>15} {'cold':>8} {'avoidable':>10} {'loaded GB·h':>12} {'ratio':>7} "
          f"{'memory / keep-alive 20 min':>27}")
    shown = 0
    for arm in arms:
        if arm.get("frontier_curve"):
            continue
        cold, memory, start, end = part_of(arm, from_ms, to_ms)
        if start is None:
            sys.exit(f"timeline-ratio: no timeline bucket of arm '{arm['name']}' lies within the part")
        avoidable = cold - args.compulsory
        timers = interpolate(memory, curve_memory, curve_avoidable)
        ratio = f"{avoidable / timers:.3f}" if timers > 0 else "inf" if avoidable > 0 else "n/a"
        share = f"{memory / reference[0]:.3f}" if reference and reference[0] > 0 else "n/a"
        span = f"{start / 3.6e6:.1f}-{end / 3.6e6:.1f}"
        print(f"{arm['name']:<28} {span:>15} {cold:8d} {avoidable:10d} {memory:12.1f} {ratio:>7} {share:>27}")
        shown += 1
    if shown == 0:
        sys.exit(f"timeline-ratio: '{args.report}' has no arm besides the keep-alive curve")


if __name__ == "__main__":
    main()
