#!/usr/bin/env python3
"""How much a keep chosen per model could beat a timer, with the whole trace known (docs/evaluation.md).

Usage, from the repository root:
  build/bin/warmup-replay --config CONFIG --trace TRACE [--to 7d ...] --dump-events events.csv
  scripts/hindsight-keeps.py CONFIG events.csv [--at "5 10 20"] [--learn-until 7d]

The events are the merged stream of one replay (`--dump-events`), the configuration its catalog (each model's memory
and load time, exact names first, then the first glob with * and ? that matches, as the host resolves them). Every
model is kept for a fixed time after each use, chosen per model from the predictor's 48 candidates (1 minute x
2^(i/4), 19 % apart) with the whole trace known; at the memory of each keep-alive timer of `--at` (minutes), three
figures, each as avoidable cold requests over those of the timers on the same 48 keeps (linearly between the two whose
memory brackets it):
- the lower bound: the lower convex hull of the per-model choices (memory, cold requests), linear between its
  corners, at exactly that memory. No choice of one keep per model does better there.
- a choice: the hull's corner at or under that memory (one keep per model), with its share of the memory and its p75.
- a choice that meets the p75 condition (the nearest-rank 75th percentile of the per-model cold rates at or under the
  keep-alive curve's, interpolated at the memory held): from the per-model keeps at a price of memory, the models
  cheapest to serve get their cheapest keep under the curve's p75, three in four of the models, repeated as the memory
  and so the bar move; the best such choice at or under the memory over 400 prices. A heuristic, not a bound.

With `--learn-until T` (a time of the events' clock: 7d, 84h, 90m, 600s or ms), every figure above is for the events
at or after T alone, and a fourth says what the past could have taught: each model's keep chosen, at a price of
memory, on its events before T (a model first seen after T gets the keep that is cheapest over the whole fleet then),
then held after T; the price is the one whose keeps hold the most memory after T at or under the timer's; and a fifth,
the same with the p75 heuristic above applied on the events before T (their own timers' curve as the bar). The hindsight
choices know the gaps they are judged on; these do not, so the room between the two is what foresight alone would buy,
and the room between these and the timers is what a static keep per model learned from the past buys. A model seen
before T starts the part after it with its last earlier request: its next request is warm or cold by the gap from it,
and only models first seen after T have compulsory cold requests there.

Model of a timer with keep K, per model: a request that ends an idle gap longer than K finds the model unloaded, and
it and every request within one load time after it are cold (the wake-up); the model's first request and its wake-up
are compulsory (cold under any keep). Memory: the model is held min(gap, K) after each request (a load is part of
that time, as the keeps are longer than the loads), and min(K, the rest of the events) after its last. This is the
replay's rule without its memory budget and queueing: on the scenarios and ServeGen folders tried, the timers' figures
printed first are within 2 % of the replay's keep-alive curve (its report.md) up to keep-alive 20 min. The total
memory-time is compared, not the memory held at each instant: in the replay a long keep can be cut short by the
budget (keep-alive 60 min and more on long-tail at 1.5x A95), so read the figures at 20 minutes' memory or less, and
know that a long keep of one model may not survive a busy hour.
"""

import argparse
import bisect
import csv
import math
import sys

import dumped_events
from frontier_math import duration_ms, interpolate


KEEPS_MS = [60_000 * 2 ** (i / 4) for i in range(48)]  # the cost-curve predictor's candidates
CURVE_MINUTES = [1, 2, 5, 10, 20, 30, 60, 120, 240]  # the keep-alive curve of the frontier
MS_PER_HOUR = 3_600_000


TOOL = "hindsight-keeps"


def resolve(catalog, model):
    """(memory_gb, load_ms) of a model, as the host resolves its name."""
    memory_mb, load_ms = dumped_events.resolve(catalog, model, TOOL)
    return memory_mb / 1024, load_ms


def read_events(path):
    """{model: ([ts_ms], [count])} in time order, and the last timestamp."""
    events = {}
    end_ms = 0
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        dumped_events.check_header(header, path, TOOL)
        for row in reader:
            ts, model, count = int(row[0]), row[1], int(row[2])
            times, counts = events.setdefault(model, ([], []))
            if times and times[-1] == ts:
                counts[-1] += count
            else:
                times.append(ts)
                counts.append(count)
            end_ms = max(end_ms, ts)
    if not events:
        sys.exit(f"hindsight-keeps: '{path}' has no events")
    return events, end_ms


class Model:
    """One model's cold requests and memory (GB·h) under each keep of a list, from its gaps and wake-ups."""

    def __init__(self, times, counts, memory_gb, load_ms, end_ms, carried=False):
        """With `carried`, the first arrival is the model's last one before the part judged (count 0): warm, not a
        first load, so nothing is compulsory."""
        self.requests = sum(counts)
        prefix = [0]
        for c in counts:
            prefix.append(prefix[-1] + c)

        def wake_up(i):  # requests from arrival i to one load time after it
            return prefix[bisect.bisect_left(times, times[i] + load_ms)] - prefix[i]

        self.compulsory = 0 if carried else wake_up(0)
        # Gaps of at least a minute (shorter ones are warm under every candidate) with their wake-ups, and the rest.
        self.long_gaps = []
        self.short_held_ms = 0.0
        for i in range(1, len(times)):
            gap = times[i] - times[i - 1]
            if gap >= KEEPS_MS[0]:
                self.long_gaps.append((gap, wake_up(i)))
            else:
                self.short_held_ms += gap
        self.long_gaps.sort()
        # Sums over the sorted long gaps: of their lengths before index i, and of their wake-ups from index i on.
        self.gaps = [g for g, _ in self.long_gaps]
        self.gaps_before = [0.0]
        for g in self.gaps:
            self.gaps_before.append(self.gaps_before[-1] + g)
        self.wake_ups_from = [0] * (len(self.long_gaps) + 1)
        for i in range(len(self.long_gaps) - 1, -1, -1):
            self.wake_ups_from[i] = self.wake_ups_from[i + 1] + self.long_gaps[i][1]
        self.tail_ms = end_ms - times[-1]
        self.memory_gb = memory_gb

    def curves(self, keeps):
        """(cold, GB·h) per keep of `keeps`."""
        cold, held = [], []
        for keep in keeps:
            longer = bisect.bisect_right(self.gaps, keep)  # gaps[longer:] are longer than the keep
            held_ms = (self.short_held_ms + self.gaps_before[longer] + keep * (len(self.gaps) - longer) +
                       min(self.tail_ms, keep))
            cold.append(self.compulsory + self.wake_ups_from[longer])
            held.append(held_ms * self.memory_gb / MS_PER_HOUR)
        return cold, held


def split_models(events, catalog, until_ms, end_ms):
    """The models of the part before until_ms (to choose keeps on) and of the part from it on (to judge them on), by
    name; a model seen in both carries its last earlier arrival into the later part."""
    before, after = {}, {}
    for name, (times, counts) in sorted(events.items()):
        memory_gb, load_ms = resolve(catalog, name)
        i = bisect.bisect_left(times, until_ms)
        if i > 0:
            before[name] = Model(times[:i], counts[:i], memory_gb, load_ms, until_ms)
        if i < len(times):
            if i > 0:
                after[name] = Model([times[i - 1]] + times[i:], [0] + counts[i:], memory_gb, load_ms, end_ms, True)
            else:
                after[name] = Model(times, counts, memory_gb, load_ms, end_ms)
    return before, after


def keeps_meeting_p75(candidates, requests, price, curve_held, curve_p75):
    """Per model, the keep (index) minimising cold + price x GB·h on its (cold, GB·h) candidates; then, if the 75th
    percentile of the cold rates is over the timers' curve's (curve_held, curve_p75) at the memory held, the models
    cheapest to serve (by the extra cost of their cheapest keep under that bar) get that keep, three in four of the
    models; the bar moves with the memory, so this is repeated a few times."""
    n = len(candidates)
    costs = [[c + price * h for c, h in zip(cold, held)] for cold, held in candidates]
    best = [min(range(len(cost)), key=cost.__getitem__) for cost in costs]
    keep = list(best)
    for _ in range(4):
        held = sum(candidates[i][1][keep[i]] for i in range(n))
        bar = interpolate(held, curve_held, curve_p75)
        if p75([candidates[i][0][keep[i]] / requests[i] for i in range(n)]) <= bar + 1e-12:
            break
        offers = []  # (extra cost, model, keep) of serving each model under the bar
        for i, (cold, _) in enumerate(candidates):
            under = [j for j in range(len(cold)) if cold[j] / requests[i] <= bar + 1e-12]
            if under:
                j = min(under, key=costs[i].__getitem__)
                offers.append((costs[i][j] - costs[i][best[i]], i, j))
        offers.sort()
        keep = list(best)
        for _, i, j in offers[: math.ceil(0.75 * n)]:
            keep[i] = j
    return keep


def timer_curve(models):
    """The keep-alive curve's points, one per keep of CURVE_MINUTES: (GB·h, cold requests, p75 of the cold rates)."""
    timers = [m.curves([k * 60_000 for k in CURVE_MINUTES]) for m in models]
    held = [sum(t[1][j] for t in timers) for j in range(len(CURVE_MINUTES))]
    cold = [sum(t[0][j] for t in timers) for j in range(len(CURVE_MINUTES))]
    rates = [p75([t[0][j] / m.requests for t, m in zip(timers, models)]) for j in range(len(CURVE_MINUTES))]
    return held, cold, rates


def p75(rates):
    """Nearest rank, as the replay's report."""
    ordered = sorted(rates)
    return ordered[math.ceil(0.75 * len(ordered)) - 1]


def lower_hull(held, cold):
    """Indexes of the lower convex hull of the points (held[k], cold[k]) from the leftmost, while cold falls."""
    order = sorted(range(len(held)), key=lambda k: (held[k], cold[k]))
    hull = []
    for k in order:
        if hull and cold[k] >= cold[hull[-1]]:
            continue  # more memory for no fewer cold requests
        while len(hull) >= 2:
            a, b = hull[-2], hull[-1]
            # b is above the line from a to k (or on it): not a corner
            if (cold[b] - cold[a]) * (held[k] - held[a]) >= (cold[k] - cold[a]) * (held[b] - held[a]):
                hull.pop()
            else:
                break
        hull.append(k)
    return hull


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", help="the replay's configuration (its catalog)")
    parser.add_argument("events", help="the replay's --dump-events file")
    parser.add_argument("--at", default="5 10 20", help="keep-alive timers (minutes) whose memory to compare at")
    parser.add_argument("--learn-until", help="judge the events from this time on (7d, 84h, ...), and add keeps "
                        "learned on the events before it")
    args = parser.parse_args()
    try:
        at_minutes = [float(x) for x in args.at.split()]
    except ValueError:
        at_minutes = []
    shortest, longest = KEEPS_MS[0] / 60_000, KEEPS_MS[-1] / 60_000
    if not at_minutes or min(at_minutes) < shortest or max(at_minutes) > longest:
        sys.exit(f"hindsight-keeps: --at '{args.at}' is not a list of keeps in minutes from {shortest:g} to "
                 f"{longest:.0f} (the candidates' range)")

    catalog = dumped_events.catalog_of(args.config, TOOL)
    events, end_ms = read_events(args.events)
    learned_from = None  # with --learn-until, per judged model its index in `learning` (None: first seen after)
    if args.learn_until is None:
        models = [Model(t, c, *resolve(catalog, name), end_ms) for name, (t, c) in sorted(events.items())]
    else:
        until_ms = duration_ms(args.learn_until)
        if until_ms is None:
            sys.exit(f"hindsight-keeps: --learn-until '{args.learn_until}' is not a time (7d, 84h, 90m, 600s, ms)")
        before, after = split_models(events, catalog, until_ms, end_ms)
        if not before or not after:
            sys.exit(f"hindsight-keeps: --learn-until '{args.learn_until}' leaves no events on one side of it (the "
                     f"events run from {min(t[0] for t, _ in events.values())} to {end_ms} ms)")
        models = list(after.values())
        learning = [m.curves(KEEPS_MS) for m in before.values()]
        learning_requests = [m.requests for m in before.values()]
        learning_held, _, learning_p75 = timer_curve(list(before.values()))
        position = {name: i for i, name in enumerate(before)}
        learned_from = [position.get(name) for name in after]  # index in `learning`, None: first seen after
        print(f"judged on the events from {until_ms:.0f} ms on; keeps learned on the {len(before)} models seen before")
    n = len(models)
    requests = [m.requests for m in models]
    compulsory = sum(m.compulsory for m in models)
    candidates = [m.curves(KEEPS_MS) for m in models]  # per model: (cold[48], held[48])
    curve_held, curve_cold, curve_p75 = timer_curve(models)
    print(f"{n} models, {sum(requests)} requests, {compulsory} compulsory cold requests")
    print(f"{'timer':>8} {'loaded GB·h':>12} {'avoidable':>10} {'p75 %':>7}")
    for minutes, held, cold, rate in zip(CURVE_MINUTES, curve_held, curve_cold, curve_p75):
        print(f"{minutes:>7}m {held:12.1f} {cold - compulsory:10d} {100 * rate:7.3f}")

    def fleet(curves, j):
        return sum(c[1][j] for c in curves), sum(c[0][j] for c in curves) - compulsory

    fine = [fleet(candidates, j) for j in range(len(KEEPS_MS))]
    fine_held = [h for h, _ in fine]
    fine_avoidable = [a for _, a in fine]

    def choose_meeting_p75(price):
        """The heuristic's keeps at `price`, judged: (GB·h, avoidable, p75, the curve's p75 there)."""
        keep = keeps_meeting_p75(candidates, requests, price, curve_held, curve_p75)
        held = sum(candidates[i][1][keep[i]] for i in range(n))
        avoidable = sum(candidates[i][0][keep[i]] for i in range(n)) - compulsory
        rate = p75([candidates[i][0][keep[i]] / requests[i] for i in range(n)])
        return held, avoidable, rate, interpolate(held, curve_held, curve_p75)

    # The fleet's lower hull: every model from its shortest keep, then the models' hull segments in order of cold
    # requests saved per GB·h, most first (each model's own segments come in its order, their slopes falling).
    segments, start_keep = [], []
    for i, (cold, held) in enumerate(candidates):
        hull = lower_hull(held, cold)
        start_keep.append(hull[0])
        for a, b in zip(hull, hull[1:]):
            segments.append(((cold[a] - cold[b]) / (held[b] - held[a]), i, b, held[b] - held[a], cold[a] - cold[b]))
    segments.sort(key=lambda seg: -seg[0])

    prices = [math.exp(math.log(1e-4) + i * (math.log(1e4) - math.log(1e-4)) / 399) for i in range(400)]
    meeting_p75 = [p for p in (choose_meeting_p75(price) for price in prices) if p[2] <= p[3] + 1e-12]

    def choose_learned(price, serve_p75):
        """Each judged model's keep minimising cold + price x GB·h on its events before --learn-until (with
        `serve_p75`, then the p75 heuristic on those events and their own timers' curve), the fleet's cheapest keep for
        a model first seen after; judged after: (GB·h, avoidable, p75)."""
        if serve_p75:
            chosen = keeps_meeting_p75(learning, learning_requests, price, learning_held, learning_p75)
        else:
            chosen = [min(range(len(KEEPS_MS)), key=lambda j, c=c, h=h: c[j] + price * h[j]) for c, h in learning]
        fleet_cost = [sum(c[j] + price * h[j] for c, h in learning) for j in range(len(KEEPS_MS))]
        fleet_keep = min(range(len(KEEPS_MS)), key=fleet_cost.__getitem__)
        keep = [fleet_keep if i is None else chosen[i] for i in learned_from]
        held = sum(candidates[i][1][keep[i]] for i in range(n))
        avoidable = sum(candidates[i][0][keep[i]] for i in range(n)) - compulsory
        return held, avoidable, p75([candidates[i][0][keep[i]] / requests[i] for i in range(n)])

    learned = {}  # line label: the choices over the prices
    if learned_from is not None:
        learned[f"learned before {args.learn_until}"] = [choose_learned(price, False) for price in prices]
        learned[f"learned before {args.learn_until}, meeting the p75 there"] = [choose_learned(price, True)
                                                                                 for price in prices]

    def against_timers(held, avoidable):
        return avoidable / interpolate(held, fine_held, fine_avoidable)

    print("per-model keeps with hindsight: avoidable cold requests over the timers' on the same keeps at that memory")
    for minutes in at_minutes:
        memory = sum(m.curves([minutes * 60_000])[1][0] for m in models)
        print(f"at keep-alive {minutes:g} min's memory ({memory:.1f} GB·h):")
        keep = list(start_keep)
        held = sum(candidates[i][1][keep[i]] for i in range(n))
        cold = sum(candidates[i][0][keep[i]] for i in range(n))
        if held > memory:
            print("  no choice holds that little")
            continue
        bound = None
        for _, i, k, more_held, less_cold in segments:
            if held + more_held > memory:
                bound = (memory, cold - less_cold * (memory - held) / more_held - compulsory)
                break
            held, cold = held + more_held, cold - less_cold
            keep[i] = k
        corner = (held, cold - compulsory)
        bound = bound or corner  # past the last corner: every model at its best keep
        rate = p75([candidates[i][0][keep[i]] / requests[i] for i in range(n)])
        print(f"  lower bound: {against_timers(*bound):.3f}")
        print(f"  a choice: {against_timers(*corner):.3f} at {corner[0] / memory:.3f} of the memory, p75 {100 * rate:.3f} "
              f"% (curve's {100 * interpolate(corner[0], curve_held, curve_p75):.3f} %)")
        under = [p for p in meeting_p75 if p[0] <= memory * 1.0005]
        if under:
            held_p, avoidable_p, rate_p, bar_p = max(under)
            print(f"  meeting the p75: {against_timers(held_p, avoidable_p):.3f} at {held_p / memory:.3f} of the memory, "
                  f"p75 {100 * rate_p:.3f} % (curve's {100 * bar_p:.3f} %)")
        else:
            print("  meeting the p75: none found at or under that memory")
        for label, choices in learned.items():
            under = [p for p in choices if p[0] <= memory * 1.0005]
            if under:
                held_l, avoidable_l, rate_l = max(under)
                print(f"  {label}: {against_timers(held_l, avoidable_l):.3f} at {held_l / memory:.3f} of the memory, "
                      f"p75 {100 * rate_l:.3f} % (curve's {100 * interpolate(held_l, curve_held, curve_p75):.3f} %)")
            else:
                print(f"  {label}: none holds that little")


if __name__ == "__main__":
    main()
