#!/usr/bin/env python3
"""Where the CPU's time goes in the timed steps of a bench run profiled by `run.sh` with CPUPROF=1.

`node --cpu-prof` profiles the whole bench: start-up, the warm-up step, the profiled step (tf.profile), the
timed steps, then the optimizer alone. This keeps the samples between the last one under `countKernels` (the
profiled step) and the first one under `optimizerCost` (which runs `countKernels` too): the timed steps. It
prints their total ms, and ms per step (divided by --steps, the bench's --steps) by function (self time),
largest first.

Run: python3 scripts/gpu/cpuprof_summary.py cpuprof-alum1/CPU.*.cpuprofile --steps 5
"""

import argparse
import collections
import json


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("profile")
    ap.add_argument("--steps", type=int, required=True)
    ap.add_argument("--top", type=int, default=20)
    args = ap.parse_args()
    p = json.load(open(args.profile))
    nodes = {n["id"]: n for n in p["nodes"]}
    parent = {c: n["id"] for n in p["nodes"] for c in n.get("children", [])}

    def stack(i):
        names = []
        while i is not None and i in nodes:
            names.append(nodes[i]["callFrame"]["functionName"])
            i = parent.get(i)
        return names

    t, samples = p["startTime"], []
    for node, dt in zip(p["samples"], p["timeDeltas"]):
        t += dt
        samples.append((t, node, dt, stack(node)))
    # optimizerCost runs countKernels too: the timed steps end where it starts.
    end = min((t for t, _, _, st in samples if "optimizerCost" in st), default=samples[-1][0])
    profiled = [t for t, _, _, st in samples if "countKernels" in st and t < end]
    if not profiled:
        raise SystemExit(f"{args.profile}: no sample under countKernels (not a bench profile?)")
    start = max(profiled)
    own = collections.Counter()
    total = 0
    for t, node, dt, _ in samples:
        if start < t < end:
            total += dt
            own[nodes[node]["callFrame"]["functionName"] or "(anonymous)"] += dt
    print(f"timed steps: {total / 1000:.1f} ms of samples, {(end - start) / 1000:.1f} ms wall, {args.steps} steps")
    for name, us in own.most_common(args.top):
        print(f"{us / 1000 / args.steps:8.1f} ms/step  {name}")


if __name__ == "__main__":
    main()
