#!/usr/bin/env python3
"""A model of the read schedule under the simulator's delay tables, without the time-scaling
grain of `cargo bench --bench latency` (Graph's one-second `Date` is 30 s of real time at x30):
records uniform in time on audits, interactive and non-interactive sign-ins (a third each),
each visible after a delay drawn from the tables of crates/simulator/src/appearance.rs, read
at the ages of each schedule plus the poll's phase. Prints p50 / p90 / p99 latency (minutes),
fetches per record and the share within appearance + interval + 1 minute.

    python3 benches/python/latency_model.py
"""
import random

# (quantile, seconds), as in crates/simulator/src/appearance.rs.
MICROSOFT_INTERACTIVE = [(0, 10), (0.5, 45), (0.95, 120), (0.99, 300), (1, 480)]
MICROSOFT_NON_INTERACTIVE = [(0, 20), (0.5, 60), (0.95, 150), (0.99, 360), (1, 600)]
SLOW_INTERACTIVE = [(0, 120), (0.5, 480), (0.9, 780), (0.97, 1000), (1, 1260)]
SLOW_NON_INTERACTIVE = [(0, 600), (0.5, 1080), (0.9, 1500), (0.97, 1680), (1, 1800)]
PROFILES = {
    "microsoft": [MICROSOFT_INTERACTIVE, MICROSOFT_INTERACTIVE, MICROSOFT_NON_INTERACTIVE],
    "slow_sign_ins": [MICROSOFT_INTERACTIVE, SLOW_INTERACTIVE, SLOW_NON_INTERACTIVE],
}


def quantile(table, u):
    for (p0, s0), (p1, s1) in zip(table, table[1:]):
        if u <= p1:
            return s0 + (u - p0) / (p1 - p0) * (s1 - s0) if p1 > p0 else s1
    return table[-1][1]


def run(profile, interval, ages, n=60000, seed=1):
    rnd = random.Random(seed)
    tables = PROFILES[profile]
    lats, fetches, prompt = [], 0, 0
    for i in range(n):
        delay = quantile(tables[i % 3], rnd.random())
        phase = rnd.random() * interval  # a slice is read at each age plus the poll's phase
        seen = [a + phase for a in ages if delay <= a + phase]
        if not seen:
            continue
        fetches += len(seen)
        lats.append(seen[0])
        prompt += seen[0] <= delay + interval + 60
    lats.sort()
    p = lambda q: lats[int(q * len(lats))] / 60
    return "p50 %.1f  p90 %.1f  p99 %.1f  fetches %.2f  within appearance + interval + 1 min %.1f %%" % (
        p(0.5), p(0.9), p(0.99), fetches / len(lats), 100 * prompt / len(lats))


if __name__ == "__main__":
    m = 60
    schedules = [
        ("before: 300 s, fresh + [20m]", 300, [0, 20 * m]),
        ("defaults: 300 s, fresh + [5m, 40m]", 300, [0, 5 * m, 40 * m]),
        ("300 s, fresh + [5m, 10m, ..., 35m, 40m] (all rungs learned)", 300,
         [0] + [k * 5 * m for k in range(1, 9)]),
    ]
    for profile in PROFILES:
        print(profile)
        for label, interval, ages in schedules:
            print("  %-60s %s" % (label, run(profile, interval, ages)))
