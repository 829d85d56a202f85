#!/usr/bin/env python3
"""Live conformance check: our `dump` against prometheus_client 0.26.0 on fresh directories.

    python3 scripts/conformance.py --binary .build/debug/multiproc-exporter [--seed N] [--rounds 3] [--keep]

Each round writes a FRESH randomized directory with real Python workers (workload.py, profile
`random`: 3-8 workers, random values including arbitrary floats, random label sets, a random
subset marked dead, help/mode/type conflicts between pids) in a temporary directory. Python
and our binary then read the same directory, so they merge files in the same readdir order
and arbitrary floats are fine. For every Accept header of record.ACCEPT_HEADERS it compares
`dump --accept H` with Python's body (exact bytes after sorting families and the sample lines
within a family, the same normalisation as GoldenTests.swift; OpenMetrics must end with
`# EOF`). Then it marks one live pid dead with our `mark-dead` and with Python's
`mark_process_dead` on an identical copy, and compares the directories and the output again.

On the first mismatch it prints a unified diff and exits 1. Round r uses seed N + r (N is
random unless --seed is given; it is printed so a failure can be replayed). --keep keeps the
directories.
"""
import argparse
import difflib
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, 'golden'))

import record  # noqa: E402
import workload  # noqa: E402


class Mismatch(Exception):
    pass


def dump(binary, directory, accept):
    cmd = [binary, 'dump', '--multiproc-dir', directory]
    if accept is not None:
        cmd += ['--accept', accept]
    result = subprocess.run(cmd, capture_output=True, timeout=60)
    if result.returncode != 0:
        raise Mismatch(f'{" ".join(cmd)} exited {result.returncode}: {result.stderr.decode(errors="replace")}')
    return result.stdout, result.stderr.decode(errors='replace')


def content_type_is_openmetrics(content_type):
    return content_type.startswith('application/openmetrics-text')


def compare(binary, directory, label):
    """Compares every Accept header; raises Mismatch with a diff on the first difference."""
    for slug, accept in record.ACCEPT_HEADERS:
        content_type, expected = record.scrape(directory, accept)
        actual, warnings = dump(binary, directory, accept)
        if warnings.strip():
            raise Mismatch(f'{label} [{slug}]: unexpected warnings from dump:\n{warnings}')
        om = content_type_is_openmetrics(content_type)
        try:
            want = record.normalize_body(expected, om)
        except ValueError as e:
            raise Mismatch(f'{label} [{slug}]: Python body malformed: {e}')
        try:
            got = record.normalize_body(actual, om)
        except ValueError as e:
            raise Mismatch(f'{label} [{slug}] accept={accept!r}: our body malformed: {e}')
        if want != got:
            diff = difflib.unified_diff(record.render_normalized(want), record.render_normalized(got),
                                        'python', 'multiproc-exporter', lineterm='', n=2)
            raise Mismatch(f'{label} [{slug}] accept={accept!r} dir={directory}\n' + '\n'.join(diff))


def listing(directory):
    return sorted(os.listdir(directory))


def check_mark_dead(binary, directory, pid, label):
    """Our `mark-dead` vs Python's mark_process_dead on an identical copy."""
    from prometheus_client.multiprocess import mark_process_dead
    python_copy = directory + '.python-mark-dead'
    ours = directory + '.our-mark-dead'
    shutil.copytree(directory, python_copy)
    shutil.copytree(directory, ours)
    mark_process_dead(pid, path=python_copy)
    for attempt in range(2):  # the second call must be a no-op
        result = subprocess.run([binary, 'mark-dead', str(pid), '--multiproc-dir', ours], capture_output=True, timeout=60)
        if result.returncode != 0:
            raise Mismatch(f'{label}: mark-dead {pid} (call {attempt + 1}) exited {result.returncode}: {result.stderr!r}')
        if attempt == 1 and result.stdout.strip():
            raise Mismatch(f'{label}: second mark-dead {pid} removed files again: {result.stdout!r}')
    # Ours also records the death for compaction, in a file prometheus_client never reads.
    journal = 'multiproc-exporter.journal'
    ours_listing = [n for n in listing(ours) if n != journal]
    if listing(python_copy) != ours_listing:
        raise Mismatch(f'{label}: after mark-dead {pid} the directories differ:\n'
                       f'python only: {sorted(set(listing(python_copy)) - set(ours_listing))}\n'
                       f'ours only:   {sorted(set(ours_listing) - set(listing(python_copy)))}')
    foldable = [n for n in ours_listing if n.endswith(f'_{pid}.db') and not n.startswith(('gauge_all', 'gauge_live'))]
    recorded = os.path.exists(os.path.join(ours, journal)) and f' dead {pid} ' in open(os.path.join(ours, journal)).read()
    if bool(foldable) != recorded:
        raise Mismatch(f'{label}: mark-dead {pid} with foldable files {foldable}: death recorded in the journal: {recorded}')
    compare(binary, ours, f'{label} after mark-dead {pid}')
    return python_copy, ours


def run_round(binary, seed, keep):
    base = tempfile.mkdtemp(prefix=f'conformance-{seed}-')
    directory = os.path.join(base, 'db')
    try:
        manifest = workload.build(directory, 'random', seed)
        label = f'seed {seed} ({len(manifest["pids"])} workers, dead {manifest["dead"]})'
        compare(binary, directory, label)
        if manifest['live']:
            pid = random.Random(seed).choice(manifest['live'])
            check_mark_dead(binary, directory, pid, label)
        return label
    finally:
        if keep:
            print(f'kept {base}', file=sys.stderr)
        else:
            shutil.rmtree(base, ignore_errors=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--binary', default='.build/debug/multiproc-exporter')
    parser.add_argument('--seed', type=int, default=None, help='first seed (default: random)')
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--keep', action='store_true', help='keep the generated directories')
    args = parser.parse_args(argv)
    binary = os.path.abspath(args.binary)
    if not os.access(binary, os.X_OK):
        print(f'conformance: {binary} is not an executable; run `swift build` first', file=sys.stderr)
        return 2
    first = args.seed if args.seed is not None else random.SystemRandom().randrange(1, 10 ** 6)
    started = time.monotonic()
    for r in range(args.rounds):
        seed = first + r
        try:
            label = run_round(binary, seed, args.keep)
        except Mismatch as e:
            print(f'conformance: MISMATCH (replay with --seed {seed} --rounds 1 --keep)\n{e}', file=sys.stderr)
            return 1
        print(f'conformance: ok {label}, {len(record.ACCEPT_HEADERS)} Accept headers')
    print(f'conformance: {args.rounds} rounds passed in {time.monotonic() - started:.1f}s (first seed {first})')
    return 0


if __name__ == '__main__':
    sys.exit(main())
