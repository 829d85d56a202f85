#!/usr/bin/env python3
"""Check the ORDER RULE of committed fixtures: Python's output must not depend on file order.

    check_order.py FIXTURES [--trials N]

For every case (corrupt ones: their repaired form is not kept, so they are skipped; their
base directory follows the rule by construction) this merges db/*.db with
MultiProcessCollector.merge in N shuffled orders and compares each exposition, normalised as
record.normalize_body does, with the recorded expected/ bodies. Cases of older releases'
layouts (expected/layouts.json) are first rewritten in today's layout (fixtures.convert_copy),
so 0.26.0 must also agree with the old release that recorded them. Run by regenerate.sh.
"""
import argparse
import glob
import json
import os
import random
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import record  # noqa: E402


class ShuffledCollector:
    def __init__(self, files):
        self.files = files

    def collect(self):
        from prometheus_client.multiprocess import MultiProcessCollector
        return MultiProcessCollector.merge(self.files, accumulate=True)


def check(fixtures, trials):
    from prometheus_client import CollectorRegistry
    from prometheus_client.exposition import choose_encoder
    failures = []
    for case in sorted(os.listdir(fixtures)):
        expected_dir = os.path.join(fixtures, case, 'expected')
        if case.startswith('corrupt_') or not os.path.isdir(expected_dir):
            continue
        files = sorted(glob.glob(os.path.join(fixtures, case, 'db', '*.db')))
        layouts_path = os.path.join(expected_dir, 'layouts.json')
        if os.path.exists(layouts_path):
            import fixtures as builder
            layouts = json.load(open(layouts_path, encoding='utf-8'))
            converted = builder.convert_copy(os.path.join(fixtures, case, 'db'), layouts,
                                             tempfile.mkdtemp(prefix=f'order-{case}-'))
            files = sorted(glob.glob(os.path.join(converted, '*.db')))
        index = json.load(open(os.path.join(expected_dir, 'index.json'), encoding='utf-8'))
        for trial in range(trials):
            order = files[:]
            random.Random(trial).shuffle(order)
            if trial == 0:
                order.reverse()
            for entry in index:
                registry = CollectorRegistry(support_collectors_without_names=True)
                registry.register(ShuffledCollector(order))
                encoder, content_type = choose_encoder(entry['accept'])
                om = content_type.startswith('application/openmetrics-text')
                with open(os.path.join(expected_dir, entry['slug'] + '.body'), 'rb') as f:
                    expected = record.normalize_body(f.read(), om)
                if record.normalize_body(encoder(registry), om) != expected:
                    failures.append(f'{case}/{entry["slug"]} depends on file order (trial {trial})')
                    break
    return failures


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('fixtures')
    parser.add_argument('--trials', type=int, default=8)
    args = parser.parse_args()
    failures = check(args.fixtures, args.trials)
    for failure in failures:
        print(f'check_order: {failure}', file=sys.stderr)
    if failures:
        sys.exit(1)
    print('check_order: fixtures do not depend on file order')


if __name__ == '__main__':
    main()
