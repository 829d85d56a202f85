#!/usr/bin/env python3
"""Record Python's float formatting for >= 10,000 doubles (FloatFormatTests.swift).

    floats.py OUT.tsv [--seed N]

One line per value: `<16-hex-digit bit pattern>\t<floatToGoString>\t<repr>`. Values: random
bit patterns across every exponent (NaN payloads and infinities included), fully random bit
patterns, random integers of every size, powers of ten 1e-330...1e310 and their neighbours,
values around repr's switch points (1e16, 1e-4) and floatToGoString's switch to exponents
(more than six integer digits), 2^53 +- 1, subnormals, -0.0, the largest and smallest
normals, and short random decimals.
"""
import argparse
import math
import random
import struct

from prometheus_client.utils import floatToGoString


def from_bits(bits):
    return struct.unpack('<d', struct.pack('<Q', bits))[0]


def to_bits(x):
    return struct.unpack('<Q', struct.pack('<d', x))[0]


def neighbours(x, steps=3):
    out = [x]
    up = down = x
    for _ in range(steps):
        up = math.nextafter(up, math.inf)
        down = math.nextafter(down, -math.inf)
        out += [up, down]
    return out


def values(rng):
    out = []
    # Every biased exponent with random mantissas and signs (2047: infinities and NaN payloads).
    for exponent in range(2048):
        for _ in range(2):
            mantissa = rng.getrandbits(52)
            out.append(from_bits(rng.getrandbits(1) << 63 | exponent << 52 | mantissa))
    out += [from_bits(rng.getrandbits(64)) for _ in range(800)]
    # Integers of every size.
    for digits in range(1, 24):
        for _ in range(40):
            out.append(float(rng.choice((1, -1)) * rng.randrange(10 ** (digits - 1), 10 ** digits)))
    # Powers of ten and their neighbours.
    for k in range(-330, 311):
        out += neighbours(float(f'1e{k}'), 1)
    # repr switches to exponent form at 1e16 and below 1e-4.
    for x in (1e16, 1e-4, 9999999999999998.0, 1e-5, 0.00011, 1e17, 1e15):
        for y in neighbours(x, 8):
            out += [y, -y]
    # floatToGoString switches to Go's exponent form past six integer digits.
    for x in (99999.0, 999999.0, 999999.5, 999999.9999999999, 1e6, 1000000.5, 1234567.0, 9999999.0,
              12345678.5, 123456.7, 1e7, 1e8):
        for y in neighbours(x, 4):
            out += [y, -y]
    for _ in range(400):
        out.append(rng.uniform(1e5, 1e8) * rng.choice((1, -1)))
        out.append(round(rng.uniform(1e5, 1e17), rng.randrange(0, 4)))
    # 2^53 and friends.
    for e in (52, 53, 54, 63, 64):
        for y in neighbours(2.0 ** e, 3):
            out += [y, -y, y + 1, y - 1]
    # Subnormals and the edges of the normal range.
    out += [from_bits(rng.randrange(1, 1 << 52)) for _ in range(400)]
    out += neighbours(5e-324, 5) + neighbours(2.2250738585072014e-308, 5) + neighbours(1.7976931348623157e308, 5)
    out += [-0.0, 0.0, -5e-324, -2.2250738585072014e-308, -1.7976931348623157e308, math.inf, -math.inf, math.nan]
    # Short decimals, the most common values in practice.
    for _ in range(1000):
        out.append(round(rng.uniform(-1e4, 1e4), rng.randrange(0, 6)))
        out.append(rng.randrange(0, 1000) / rng.choice((1, 2, 4, 8, 10, 100, 1000, 3, 7)))
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('out')
    parser.add_argument('--seed', type=int, default=1)
    args = parser.parse_args()
    seen, lines = set(), []
    for x in values(random.Random(args.seed)):
        bits = to_bits(x)
        if bits in seen:
            continue
        seen.add(bits)
        lines.append(f'{bits:016x}\t{floatToGoString(x)}\t{x!r}\n')
    with open(args.out, 'w') as f:
        f.writelines(lines)
    print(f'floats: {len(lines)} values')


if __name__ == '__main__':
    main()
