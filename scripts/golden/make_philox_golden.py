#!/usr/bin/env python3
"""Independent reference for the dropout masks and normal noise (src/core/model/philox.ts): Philox4x32-10 with
Python integers.

Philox4x32-10 as Salmon, Moraes, Dror and Shaw define it ("Parallel random numbers: as easy as 1, 2, 3", SC11,
doi:10.1145/2063384.2063405, section 3.3 and table 2): ten rounds of
  (c0, c1, c2, c3) -> (hi(M1 c2) ^ c1 ^ k0, lo(M1 c2), hi(M0 c0) ^ c3 ^ k1, lo(M0 c0))
with the key bumped by (W0, W1) before every round but the first. Checked here against the three `philox4x32 10`
rows of Random123's known-answer file (Random123 1.14.0, tests/kat_vectors) before anything is written.

The mask of n entries at seed s and rate r (the layout philox.ts documents): keep = float32(1 - r); key = (s mod 2^32,
floor(s / 2^32) mod 2^32); entry i takes word i mod 4 of the block at counter (floor(i / 4), 0, 0, 0), and is
float32(1 / keep) when that word is below floor(keep 2^32), else 0.

Normal noise of n entries at seed s, sigma (stream 1: counter (b, 1, 0, 0)): block b gives entries 4b .. 4b + 3 by
Box-Muller from word pairs (0, 1) and (2, 3): u = (floor(w / 2^9) + 1/2) 2^-23, r = sqrt(-2 ln u_a), theta =
pi (2 u_b - 1), entries float32(float32(sigma) float32(r cos theta)) and the same with sin, in double (math module).

Writes test/golden/philox.json: per mask case n, rate, seed, the kept entries as a '0'/'1' string, the kept
value's float32 bits, and the count kept; per noise case n, sigma, seed and the values. Run: /usr/bin/python3 scripts/golden/make_dropout_golden.py
"""

import json
import math
import struct
from pathlib import Path

M0, M1 = 0xD2511F53, 0xCD9E8D57
W0, W1 = 0x9E3779B9, 0xBB67AE85
MASK32 = 0xFFFFFFFF

KAT = [  # Random123 1.14.0 tests/kat_vectors, rows "philox4x32 10": counter[4] key[2] -> result[4]
    ([0, 0, 0, 0], [0, 0], [0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8]),
    ([MASK32] * 4, [MASK32] * 2, [0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD]),
    (
        [0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344],
        [0xA4093822, 0x299F31D0],
        [0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1],
    ),
]


def philox4x32_10(c, k):
    c0, c1, c2, c3 = c
    k0, k1 = k
    for r in range(10):
        if r > 0:
            k0, k1 = (k0 + W0) & MASK32, (k1 + W1) & MASK32
        p0, p1 = M0 * c0, M1 * c2
        c0, c1, c2, c3 = (p1 >> 32) ^ c1 ^ k0, p1 & MASK32, (p0 >> 32) ^ c3 ^ k1, p0 & MASK32
    return [c0, c1, c2, c3]


def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def key_of(seed):
    return [seed % 2**32, (seed // 2**32) % 2**32]


def mask(n, rate, seed):
    keep = f32(1.0 - rate)
    threshold = min(2**32 - 1, int(keep * 2**32))
    key = key_of(seed)
    bits = []
    for b in range((n + 3) // 4):
        words = philox4x32_10([b, 0, 0, 0], key)
        bits.extend("1" if w < threshold else "0" for w in words)
    return "".join(bits[:n]), f32(1.0 / keep)


def normal(n, sigma, seed):
    s = f32(sigma)
    out = []
    for b in range((n + 3) // 4):
        w = philox4x32_10([b, 1, 0, 0], key_of(seed))
        for p in range(2):
            r = math.sqrt(-2.0 * math.log(((w[2 * p] >> 9) + 0.5) * 2.0**-23))
            theta = math.pi * (2.0 * (((w[2 * p + 1] >> 9) + 0.5) * 2.0**-23) - 1.0)
            out += [f32(s * f32(r * math.cos(theta))), f32(s * f32(r * math.sin(theta)))]
    return out[:n]


def main():
    for c, k, want in KAT:
        assert philox4x32_10(c, k) == want, (c, k)
    cases = []
    for n, rate, seed in [
        (1, 0.1, 0),
        (7, 0.5, 1),
        (64, 0.1, 12345),
        (1003, 0.1, 2**31 + 17),  # a seed above 2^31 (seeds are 31-bit, plus the site index)
        (1000, 0.3, 2**40 + 3),  # the key's second word nonzero
        (4096, 0.9, 7),
        (10001, 0.1, 987654321),
    ]:
        kept, value = mask(n, rate, seed)
        cases.append(
            {
                "n": n,
                "rate": rate,
                "seed": seed,
                "kept": kept,
                "keptCount": kept.count("1"),
                "keptValueBits": struct.unpack("<I", struct.pack("<f", value))[0],
            }
        )
    noise = [
        {"n": n, "sigma": sigma, "seed": seed, "values": normal(n, sigma, seed)}
        for n, sigma, seed in [(1, 1.0, 0), (7, 1e-5, 3), (258, 1.0, 2**31 + 17), (1000, 0.5, 2**40 + 3)]
    ]
    out = Path(__file__).resolve().parents[2] / "test" / "golden" / "philox.json"
    kat = [{"counter": c, "key": k, "result": r} for c, k, r in KAT]
    out.write_text(json.dumps({"kat": kat, "cases": cases, "noise": noise}, indent=1) + "\n")
    print(f"wrote {out} ({len(cases)} masks, {len(noise)} noise draws)")


if __name__ == "__main__":
    main()
