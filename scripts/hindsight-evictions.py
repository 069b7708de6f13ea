#!/usr/bin/env python3
"""How much an eviction order chosen with the whole trace known could beat LRU at a memory budget (docs/evaluation.md).

Usage, from the repository root:
  build/bin/warmup-replay --config CONFIG --trace TRACE [--to 7d ...] --arms lru --dump-events events.csv --out DIR
  scripts/hindsight-evictions.py CONFIG events.csv --report DIR/report.json     (or --budget-mb MB)

The events are the merged stream of one replay (`--dump-events`), the configuration its catalog (each model's memory
and load time, resolved as the host resolves a name), the budget the replay's (`budget_mb` of its report.json: a
budget such as 1xA95 is known only once the trace is read). Every model is kept until evicted, as under
`objective: budget`, and four eviction orders are replayed on the events:
- lru: the ready model idle the longest goes first (the replay's `lru` arm, without its queueing);
- furthest next use: the ready model whose next request comes last (never again first): Belady's order, the fewest
  loads for models of one size;
- next use per cost: the ready model with the most memory-time until its next request per load-ms of cold requests
  that request's wake-up would cost, (next request - now) x MiB / (wake-up x load ms): the order that frees the most
  memory-time per cold request it causes, which for models of several sizes and wake-ups of several sizes leaves
  fewer cold requests than Belady's;
- idle per next cost: LRU's time weighed as the last order weighs the time to the next request, (now - last request)
  x MiB / (next wake-up x load ms), a model never used again first: it knows the size of each model's next wake-up
  but not when it comes, so it tells how much of the last order's gain is in knowing which wake-ups will be big.
Each prints its avoidable cold requests (cold - compulsory) and their share of LRU's. The orders that know the
future are not bounds in the strict sense (no order is proven best once sizes and wake-ups differ), but no online
policy knows more than they do; they say how much of LRU's avoidable cold requests eviction alone could take away.
A policy that pre-warms (loads a model before its request) can do better than any of them.

Model, per request (the replay's rule without pre-warms, queueing and concurrency, docs/simulation-rules.md): a
request for a model not held loads it at once; it and every request within one load time after it are cold (the
wake-up), and the model's first wake-up is compulsory. Its memory counts from that request. To make room, ready models
(their load finished) are evicted in the order until it fits; if they cannot make room, the load goes ahead over the
budget (counted as `over budget`: the replay would have queued it).
"""

import argparse
import bisect
import csv
import json
import math
import sys
from array import array

import dumped_events

TOOL = "hindsight-evictions"
ORDERS = ["lru", "furthest next use", "next use per cost", "idle per next cost"]


class Fleet:
    """The events by model: each model's distinct request times and cumulative request counts, its memory and load
    time, and the sequence in which the models' requests arrive (one entry per distinct time of a model)."""

    def __init__(self, config_path, events_path):
        catalog = dumped_events.catalog_of(config_path, TOOL)
        self.names, self.memory_mb, self.load_ms = [], [], []
        self.times, self.cumulative = [], []  # cumulative[m][j]: requests of model m before its j-th time
        self.sequence = array("i")
        ids = {}
        with open(events_path, newline="", encoding="utf-8") as f:
            reader = csv.reader(f)
            dumped_events.check_header(next(reader, None), events_path, TOOL)
            for row in reader:
                ts, name, count = int(row[0]), row[1], int(row[2])
                m = ids.get(name)
                if m is None:
                    m = ids[name] = len(self.names)
                    memory_mb, load_ms = dumped_events.resolve(catalog, name, TOOL)
                    self.names.append(name)
                    self.memory_mb.append(memory_mb)
                    self.load_ms.append(load_ms)
                    self.times.append(array("q"))
                    self.cumulative.append(array("q", [0]))
                times, cumulative = self.times[m], self.cumulative[m]
                if times and times[-1] == ts:  # the same model at the same instant: one arrival
                    cumulative[-1] += count
                    continue
                times.append(ts)
                cumulative.append(cumulative[-1] + count)
                self.sequence.append(m)
        if not self.sequence:
            sys.exit(f"{TOOL}: '{events_path}' has no events")

    def wake_up(self, m, j):
        """Requests of model m from its j-th time to one load time after it (those a cold start there makes wait)."""
        times = self.times[m]
        end = bisect.bisect_left(times, times[j] + self.load_ms[m])
        return self.cumulative[m][end] - self.cumulative[m][j]

    def requests(self):
        return sum(c[-1] for c in self.cumulative)

    def compulsory(self):
        return sum(self.wake_up(m, 0) for m in range(len(self.names)))


def replay(fleet, budget_mb, order):
    """(cold requests, evictions, loads over budget) under one eviction order."""
    n = len(fleet.names)
    held = bytearray(n)
    members = []  # the models held, in no particular order
    ready_at = [0] * n
    last_used = [0] * n
    position = [0] * n  # the next of each model's times to come
    used_mb = 0.0
    cold = evictions = over_budget = 0
    times, memory_mb, load_ms = fleet.times, fleet.memory_mb, fleet.load_ms

    def key(x, now):
        """The larger goes first."""
        if order == "lru":
            return now - last_used[x]
        j = position[x]
        if j >= len(times[x]):
            return math.inf  # never used again
        if order == "furthest next use":
            return times[x][j]
        cost = fleet.wake_up(x, j) * load_ms[x]
        if cost <= 0:
            return math.inf  # a model that loads in no time makes nobody wait: evicting it costs nothing
        if order == "idle per next cost":
            return (now - last_used[x]) * memory_mb[x] / cost
        return (times[x][j] - now) * memory_mb[x] / cost

    for m in fleet.sequence:
        j = position[m]
        position[m] = j + 1
        now = times[m][j]
        if not held[m]:
            cold += fleet.wake_up(m, j)
            while used_mb + memory_mb[m] > budget_mb:
                ready = [x for x in members if ready_at[x] <= now]
                if not ready:
                    over_budget += 1
                    break
                # Ties: idle the longest, then the model first seen.
                victim = max(ready, key=lambda x: (key(x, now), now - last_used[x], -x))
                members.remove(victim)
                held[victim] = 0
                used_mb -= memory_mb[victim]
                evictions += 1
            held[m] = 1
            members.append(m)
            used_mb += memory_mb[m]
            ready_at[m] = now + load_ms[m]
        last_used[m] = now
    return cold, evictions, over_budget


def budget_of(args):
    if args.budget_mb is not None:
        if not args.budget_mb > 0:
            sys.exit(f"{TOOL}: --budget-mb {args.budget_mb:g} is not a budget (MiB, more than 0)")
        return args.budget_mb
    try:
        with open(args.report, encoding="utf-8") as f:
            arms = json.load(f)["arms"]
        return float(arms[0]["budget_mb"])
    except (OSError, ValueError, KeyError, IndexError, TypeError) as error:
        sys.exit(f"{TOOL}: '{args.report}' is not a warmup-replay report.json with a budget_mb ({error})")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config", help="the replay's configuration (its catalog)")
    parser.add_argument("events", help="a warmup-replay --dump-events file")
    budget = parser.add_mutually_exclusive_group(required=True)
    budget.add_argument("--budget-mb", type=float, help="the memory budget in MiB")
    budget.add_argument("--report", help="a report.json of the same replay: its budget_mb")
    args = parser.parse_args()

    budget_mb = budget_of(args)
    fleet = Fleet(args.config, args.events)
    compulsory = fleet.compulsory()
    print(f"{len(fleet.names)} models, {fleet.requests()} requests, {compulsory} compulsory cold requests, "
          f"budget {budget_mb:.0f} MiB")
    print(f"{'order':<18} {'avoidable':>10} {'of LRU':>7} {'evictions':>10} {'over budget':>12}")
    lru_avoidable = None
    for order in ORDERS:
        cold, evictions, over_budget = replay(fleet, budget_mb, order)
        avoidable = cold - compulsory
        if lru_avoidable is None:
            lru_avoidable = avoidable
        share = f"{avoidable / lru_avoidable:.3f}" if lru_avoidable else "-"
        print(f"{order:<18} {avoidable:>10} {share:>7} {evictions:>10} {over_budget:>12}")


if __name__ == "__main__":
    main()
