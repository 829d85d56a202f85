#!/usr/bin/env python3
"""Build every golden fixture case under FIXTURES (called by regenerate.sh).

    fixtures.py FIXTURES [--seed N]

Per case: FIXTURES/<case>/db/*.db written by real prometheus_client workers (workload.py),
each file trimmed to its `used` size, and FIXTURES/<case>/expected/ recorded by record.py
FROM THE TRIMMED DIRECTORY. Cases whose db/ would be empty hold a `.gitkeep` (not a .db file:
both readers ignore it).

crafted_keys/ and crafted_empty_sample_name/ are written entry by entry with the client's own
MmapedDict (keys its metric classes never produce; see CRAFTED_KEYS), then trimmed and
recorded the same way.

dead_and_live_pids/after_mark_dead/ holds mark_dead.json ({pid, removed}) and what Python
serves after `mark_process_dead(pid)` on a copy of db/ (for MarkDeadTests.swift).

corrupt_<name>/: db/ is a valid Python-written directory with ONE file damaged; expected/ is
what Python serves for that directory with the damage REPAIRED to what survives under our
documented rules (EntryParser.swift, TrackedFile.swift): a bad key skips that entry only; a
bad length stops parsing at that entry, keeping earlier ones; `used` beyond the file keeps the
entries that fit; a 0-byte, short-header or used<8 file contributes nothing; non-metric names
are never opened. expected/problems.json lists the {file, reason} pairs our collector must
report (FileProblem.Reason raw values). expected/setup.json, when present, lists what the
test must create in its temporary copy because git cannot hold it: directories and symlinks
(their problems are in problems.json too).

release_<version>/: written by forked workers of an OLD prometheus_client release (the
venvs of scripts/clients/venvs.py; scripts/clients/writer.py --golden), expected/ recorded
by THAT release's own MultiProcessCollector (text 0.0.4 only: those releases predate the other
formats). mixed_releases/: workers of 0.9.0, 0.16.0 and 0.26.0 in one directory; expected/ is
0.26.0 on a copy with every file rewritten in today's layout (all Accept headers). Both hold
expected/layouts.json ({file: layout}, from the writers, never guessed), which check_order.py
uses to convert before it shuffles.

See workload.py for the ORDER RULE every committed multi-pid series follows.
"""
import argparse
import json
import os
import shutil
import sqlite3
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import record  # noqa: E402  (puts scripts/lib on the path)
import testkit  # noqa: E402
import workload  # noqa: E402

CLIENTS = os.path.join(os.path.dirname(HERE), 'clients')
sys.path.insert(0, CLIENTS)
import venvs  # noqa: E402
import writer  # noqa: E402

# (case, release): files of the layouts before today's, as their writers left them.
OLD_RELEASE_CASES = [('release_0_9_0', '0.9.0'), ('release_0_16_0', '0.16.0')]
MIXED_RELEASES = ['0.9.0', '0.16.0', '0.26.0']
TEXT_004 = 'text/plain; version=0.0.4; charset=utf-8'

CASES = ['kitchen_sink', 'dead_and_live_pids', 'histogram_custom_buckets', 'histogram_nan_bound',
         'utf8_names', 'special_floats', 'gauge_modes', 'empty_directory']

# Keys the client's metric classes never produce but its own writer (MmapedDict) stores and
# its collector serves: _created/_gsum/_gcount samples (moved to their own gauge family in
# the text format), a histogram _count stored in a file (replaced by the bucket total), `le`
# spellings float() accepts, sample names unrelated to the metric name, duplicate JSON label
# names (the last wins), raw UTF-8 and \u escapes in keys, JSON whitespace, control
# characters in label values and help. (file, key: list or raw JSON text, value, timestamp)
CRAFTED_KEYS = [
    ('counter_1.db', ['foo', 'foo_total', {}, 'h'], 1, 0),
    ('counter_1.db', ['foo', 'foo_created', {}, 'h'], 1700000000.5, 0),
    ('counter_2.db', ['foo', 'unrelated_sample_name', {'x': 'y'}, 'h'], 5, 0),
    ('gauge_all_1.db', ['bar', 'bar', {'a': 'b'}, 'gh'], 2, 0),
    ('gauge_all_1.db', ['bar', 'bar_gsum', {'a': 'b'}, 'gh'], 3, 0),
    ('gauge_all_1.db', ['bar', 'bar_gcount', {'a': 'b'}, 'gh'], 4, 0),
    ('gauge_all_1.db', ['bar', 'bar_created', {}, 'gh'], 5, 0),
    ('histogram_1.db', ['hh', 'hh_count', {}, 'h'], 99, 0),
    ('histogram_1.db', ['hh', 'hh_bucket', {'le': '1.0'}, 'h'], 2, 0),
    ('histogram_1.db', ['hh', 'hh_bucket', {'le': '+Inf'}, 'h'], 3, 0),
    ('histogram_1.db', ['hh', 'hh_bucket', {'le': ' 2 '}, 'h'], 1, 0),
    ('histogram_1.db', ['hh', 'hh_bucket', {'le': '1'}, 'h'], 10, 0),
    ('histogram_2.db', ['hh', 'hh_bucket', {'le': 'inf'}, 'h'], 10, 0),
    ('histogram_2.db', ['hh', 'hh_bucket', {'le': '1_0'}, 'h'], 10, 0),
    ('histogram_2.db', ['hh', 'hh_bucket', {'le': '1e0'}, 'h'], 0.5, 0),
    ('histogram_1.db', ['hh', 'hh_sum', {}, 'h'], 7, 0),
    ('counter_2.db', '["dup", "dup_total", {"a": "1", "a": "2"}, "h"]', 1, 0),
    ('counter_2.db', '["raw", "raw_total", {"é": "raw ü🚀"}, "hélp"]', 1, 0),
    ('counter_2.db', ' [ "ws" ,"ws_total",{ "b":"1" , "a" : "2"} , "h" ] ', 1, 0),
    ('counter_2.db', r'["esc", "esc_total", {"k": "\u00e9\ud83d\ude80\t\r\u0000\b\f\/"}, "h\r\u2028"]', 1, 0),
    ('gauge_max_2.db', ['ctl', 'ctl', {'v': 'a\rb\x00c\x7f\u2028'}, 'h\rx'], 1, 0),
    ('gauge_mostrecent_1.db', ['mr_negative_ts', 'mr_negative_ts', {}, 'h'], 1, -5.0),
    ('gauge_mostrecent_2.db', ['mr_zero_ts', 'mr_zero_ts', {}, 'h'], 1, 0.0),
]

# Known mismatch kept apart so it does not hide other regressions: an empty sample name.
CRAFTED_EMPTY_SAMPLE_NAME = [
    ('counter_1.db', ['empty_sample', '', {}, 'h'], 1, 0),
    ('counter_1.db', ['empty_sample', '', {'a': 'b'}, 'h'], 2, 0),
]


# MARK: - Raw entries of a .db file

def read_entries(path):
    """[(key bytes, 16 value+timestamp bytes)] of a well-formed file."""
    with open(path, 'rb') as f:
        return [(key, value) for key, value, _ in testkit.read_entries(f.read())]


def encode_entry(key, tail, length=None):
    pad = 8 - (len(key) + 4) % 8
    return struct.pack('<i', len(key) if length is None else length) + key + b' ' * pad + tail


def entry_offsets(entries):
    offsets, pos = [], 8
    for key, tail in entries:
        offsets.append(pos)
        pos += len(encode_entry(key, tail))
    return offsets


def write_entries(path, entries, used=None):
    """Rewrites `path` with `entries` in the writer's layout (file size = used)."""
    body = b''.join(encode_entry(k, t) for k, t in entries)
    real_used = 8 + len(body)
    with open(path, 'wb') as f:
        f.write(struct.pack('<i', real_used if used is None else used) + b'\0' * 4 + body)


def patch(path, offset, data):
    with open(path, 'r+b') as f:
        f.seek(offset)
        f.write(data)


def rewrite_key(path, index, transform):
    """Replaces entry `index`'s key with transform(json-decoded key) (json.dumps as the writer does)."""
    entries = read_entries(path)
    key, tail = entries[index]
    new_key = json.dumps(transform(json.loads(key)), sort_keys=True).encode()
    entries[index] = (new_key, tail)
    write_entries(path, entries)


def drop_entry(path, index):
    entries = read_entries(path)
    del entries[index]
    write_entries(path, entries)


def keep_entries(path, count):
    write_entries(path, read_entries(path)[:count])


# MARK: - Corruptions: (damage db/, repair the copy Python reads, return problems)

def corruptions(pids):
    a, b = pids
    counter_a, counter_b = f'counter_{a}.db', f'counter_{b}.db'
    all_a, all_b = f'gauge_all_{a}.db', f'gauge_all_{b}.db'
    livesum_a, livesum_b = f'gauge_livesum_{a}.db', f'gauge_livesum_{b}.db'
    hist_a, hist_b = f'histogram_{a}.db', f'histogram_{b}.db'

    def empty_file(db, fixed):
        open(os.path.join(db, counter_a), 'wb').close()
        os.remove(os.path.join(fixed, counter_a))
        return [(counter_a, 'empty_file')]

    def short_header(db, fixed):
        with open(os.path.join(db, all_a), 'r+b') as f:
            f.truncate(5)
        os.remove(os.path.join(fixed, all_a))
        return [(all_a, 'short_header')]

    def used_below_header(db, fixed):
        patch(os.path.join(db, hist_a), 0, struct.pack('<i', 4))
        os.remove(os.path.join(fixed, hist_a))
        return [(hist_a, 'used_below_header')]

    def used_beyond_file(db, fixed):
        path = os.path.join(db, counter_b)
        used = struct.unpack('<i', open(path, 'rb').read(4))[0]
        patch(path, 0, struct.pack('<i', used + 64))
        return [(counter_b, 'used_beyond_file')]

    def file_cut_mid_entry(db, fixed):
        path = os.path.join(db, counter_b)
        third = entry_offsets(read_entries(path))[2]
        with open(path, 'r+b') as f:
            f.truncate(third + 10)
        keep_entries(os.path.join(fixed, counter_b), 2)
        return [(counter_b, 'used_beyond_file')]

    def key_length_past_used(db, fixed):
        path = os.path.join(db, counter_a)
        third = entry_offsets(read_entries(path))[2]
        used = os.path.getsize(path)
        patch(path, third, struct.pack('<i', used - third + 100))
        keep_entries(os.path.join(fixed, counter_a), 2)
        return [(counter_a, 'key_length_out_of_bounds')]

    def negative_key_length(db, fixed):
        path = os.path.join(db, livesum_a)
        second = entry_offsets(read_entries(path))[1]
        patch(path, second, struct.pack('<i', -16))
        keep_entries(os.path.join(fixed, livesum_a), 1)
        return [(livesum_a, 'key_length_out_of_bounds')]

    def zero_key_length(db, fixed):
        path = os.path.join(db, all_b)
        second = entry_offsets(read_entries(path))[1]
        patch(path, second, struct.pack('<i', 0))
        keep_entries(os.path.join(fixed, all_b), 1)
        return [(all_b, 'key_length_out_of_bounds')]

    def invalid_utf8_key(db, fixed):
        path = os.path.join(db, counter_a)
        second = entry_offsets(read_entries(path))[1]
        patch(path, second + 4 + 3, b'\xff')  # inside the metric name
        drop_entry(os.path.join(fixed, counter_a), 1)
        return [(counter_a, 'invalid_utf8_key')]

    def key_not_json(db, fixed):
        path = os.path.join(db, all_a)
        second = entry_offsets(read_entries(path))[1]
        patch(path, second + 4, b'(')  # the opening '['
        drop_entry(os.path.join(fixed, all_a), 1)
        return [(all_a, 'invalid_json_key')]

    def key_three_elements(db, fixed):
        rewrite_key(os.path.join(db, counter_b), 1, lambda k: k[:3])
        drop_entry(os.path.join(fixed, counter_b), 1)
        return [(counter_b, 'unexpected_key_shape')]

    def labels_not_object(db, fixed):
        rewrite_key(os.path.join(db, hist_b), 2, lambda k: [k[0], k[1], sorted(k[2].items()), k[3]])
        drop_entry(os.path.join(fixed, hist_b), 2)
        return [(hist_b, 'unexpected_key_shape')]

    def label_value_number(db, fixed):
        rewrite_key(os.path.join(db, livesum_b), 0, lambda k: [k[0], k[1], {n: 7 for n in k[2]}, k[3]])
        drop_entry(os.path.join(fixed, livesum_b), 0)
        return [(livesum_b, 'unexpected_key_shape')]

    def le_not_number(db, fixed):
        path = os.path.join(db, hist_a)
        index = next(i for i, (k, _) in enumerate(read_entries(path)) if json.loads(k)[2].get('le') == '1.0')
        rewrite_key(path, index, lambda k: [k[0], k[1], dict(k[2], le='abc'), k[3]])
        drop_entry(os.path.join(fixed, hist_a), index)
        return [(hist_a, 'invalid_bucket_bound')]

    def lone_surrogate(db, fixed):
        # Byte-identical to what Gauge(...).labels('\ud800') makes the writer store (json.dumps
        # escapes it); Python then fails the whole scrape when it encodes the body.
        rewrite_key(os.path.join(db, all_b), 2, lambda k: [k[0], k[1], {n: 'x\ud800' for n in k[2]}, k[3]])
        drop_entry(os.path.join(fixed, all_b), 2)
        return [(all_b, 'unexpected_key_shape')]

    def non_metric_names(db, fixed):
        source = os.path.join(db, counter_a)
        for name in ('foo.db', 'counter_.db', 'counter_abc.db', '.counter_1.db', 'counter_1.db.tmp',
                     'gauge_weird_1.db', 'gauge_all_1_2.db', 'Counter_1.db'):
            shutil.copyfile(os.path.join(db, all_a) if name.startswith('gauge') else source, os.path.join(db, name))
        sqlite_path = os.path.join(db, 'data.db')
        with sqlite3.connect(sqlite_path) as conn:
            conn.execute('PRAGMA page_size = 512')
            conn.execute('CREATE TABLE t (x)')
            conn.execute('INSERT INTO t VALUES (1)')
        conn.close()
        setup = {'directories': ['x.db', 'counter_99999999.db'],
                 'symlinks': [{'name': 'gauge_all_88888888.db', 'target': all_a}]}
        return [('counter_99999999.db', 'not_regular_file'), ('gauge_all_88888888.db', 'symlink')], setup

    return {
        'corrupt_empty_file': empty_file,
        'corrupt_short_header': short_header,
        'corrupt_used_below_header': used_below_header,
        'corrupt_used_beyond_file': used_beyond_file,
        'corrupt_file_cut_mid_entry': file_cut_mid_entry,
        'corrupt_key_length_past_used': key_length_past_used,
        'corrupt_negative_key_length': negative_key_length,
        'corrupt_zero_key_length': zero_key_length,
        'corrupt_invalid_utf8_key': invalid_utf8_key,
        'corrupt_key_not_json': key_not_json,
        'corrupt_key_three_elements': key_three_elements,
        'corrupt_labels_not_object': labels_not_object,
        'corrupt_label_value_number': label_value_number,
        'corrupt_le_not_number': le_not_number,
        'corrupt_lone_surrogate': lone_surrogate,
        'corrupt_non_metric_names': non_metric_names,
    }


# MARK: - Building cases

def write_json(path, value):
    with open(path, 'w', encoding='utf-8') as f:
        json.dump(value, f, indent=1, ensure_ascii=False)
        f.write('\n')


def fresh_case(fixtures, case):
    path = os.path.join(fixtures, case)
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(os.path.join(path, 'db'))
    return path


def keep_if_empty(db):
    if not os.listdir(db):
        open(os.path.join(db, '.gitkeep'), 'w').close()


def build_case(fixtures, case, seed, scratch):
    path = fresh_case(fixtures, case)
    db = os.path.join(path, 'db')
    work = os.path.join(scratch, case)
    manifest = workload.build(work, case, seed, trim=True)
    for name in os.listdir(work):
        shutil.copyfile(os.path.join(work, name), os.path.join(db, name))
    keep_if_empty(db)
    record.record(db, os.path.join(path, 'expected'))
    if case == 'dead_and_live_pids':
        build_after_mark_dead(path, manifest, scratch)
    return manifest


def build_crafted_case(fixtures, case, entries):
    """Writes `entries` with Python's own MmapedDict, then trims and records like build_case."""
    from prometheus_client.mmap_dict import MmapedDict
    path = fresh_case(fixtures, case)
    db = os.path.join(path, 'db')
    for name, key, value, timestamp in entries:
        text = key if isinstance(key, str) else json.dumps(key, sort_keys=True)
        writer = MmapedDict(os.path.join(db, name))
        writer.write_value(text, float(value), float(timestamp))
        writer.close()
    workload.trim_db_files(db)
    record.record(db, os.path.join(path, 'expected'))


def build_after_mark_dead(path, manifest, scratch):
    from prometheus_client.multiprocess import mark_process_dead
    pid = manifest['live'][0]
    copy = os.path.join(scratch, 'after_mark_dead')
    shutil.copytree(os.path.join(path, 'db'), copy)
    before = set(os.listdir(copy))
    mark_process_dead(pid, path=copy)
    removed = sorted(before - set(os.listdir(copy)))
    assert removed, f'pid {pid} had no live gauge files'
    out = os.path.join(path, 'after_mark_dead')
    record.record(copy, out)
    write_json(os.path.join(out, 'mark_dead.json'), {'pid': pid, 'removed': removed})


def write_release(python, db, seed, workers, dead, first=0, extra=()):
    out = subprocess.run([python, os.path.join(CLIENTS, 'writer.py'), 'write', db, '--golden', '--seed', str(seed),
                          '--workers', str(workers), '--dead', str(dead), '--first-worker', str(first), *extra],
                         check=True, capture_output=True, text=True).stdout
    manifest = json.loads(out.strip().splitlines()[-1])
    return {name: manifest['layout'] for name in os.listdir(db)
            if name.endswith('.db') and int(name[:-3].rsplit('_', 1)[1]) in manifest['pids']}


def build_old_release_cases(fixtures, seed, scratch):
    pythons = venvs.ensure(os.path.join(venvs.ROOT, '.venvs'), sorted(set(MIXED_RELEASES) | {v for _, v in OLD_RELEASE_CASES}))
    for case, version in OLD_RELEASE_CASES:
        path = fresh_case(fixtures, case)
        db, expected = os.path.join(path, 'db'), os.path.join(path, 'expected')
        layouts = write_release(pythons[version], db, seed, workers=3, dead=1)
        workload.trim_db_files(db)
        os.makedirs(expected)
        subprocess.run([pythons[version], os.path.join(CLIENTS, 'writer.py'), 'record', db, os.path.join(expected, 'none.body')],
                       check=True)
        write_json(os.path.join(expected, 'index.json'), [{'slug': 'none', 'accept': None, 'content_type': TEXT_004}])
        write_json(os.path.join(expected, 'layouts.json'), layouts)
    path = fresh_case(fixtures, 'mixed_releases')
    db = os.path.join(path, 'db')
    layouts = {}
    for i, version in enumerate(MIXED_RELEASES):
        # The same HELP in every release's files: which file is merged first (the order a
        # checkout lists them) must not matter. The live check (check_clients.py) mixes HELPs.
        layouts.update(write_release(pythons[version], db, seed + i, workers=2, dead=1, first=10 * i,
                                     extra=['--uniform-help']))
    workload.trim_db_files(db)
    converted = convert_copy(db, layouts, os.path.join(scratch, 'mixed_releases.converted'))
    record.record(converted, os.path.join(path, 'expected'))
    write_json(os.path.join(path, 'expected', 'layouts.json'), layouts)


def convert_copy(db, layouts, target):
    """A copy of `db` with every file rewritten in today's layout (0.26's MmapedDict)."""
    os.makedirs(target, exist_ok=True)
    for name, layout in layouts.items():
        writer.convert_file(os.path.join(db, name), os.path.join(target, name), layout)
    return target


def build_corrupt_cases(fixtures, seed, scratch):
    base = os.path.join(scratch, 'corrupt_base')
    manifest = workload.build(base, 'corrupt_base', seed, trim=True)
    for case, damage in corruptions(manifest['pids']).items():
        path = fresh_case(fixtures, case)
        db = os.path.join(path, 'db')
        fixed = os.path.join(scratch, case + '.repaired')
        for name in os.listdir(base):
            shutil.copyfile(os.path.join(base, name), os.path.join(db, name))
        shutil.copytree(base, fixed)
        result = damage(db, fixed)
        problems, setup = result if isinstance(result, tuple) else (result, None)
        expected = os.path.join(path, 'expected')
        record.record(fixed, expected, record.CORRUPT_SLUGS)
        write_json(os.path.join(expected, 'problems.json'), [{'file': f, 'reason': r} for f, r in sorted(problems)])
        if setup:
            write_json(os.path.join(expected, 'setup.json'), setup)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('fixtures')
    parser.add_argument('--seed', type=int, default=2)
    parser.add_argument('--only-old-releases', action='store_true',
                        help='(re)build only release_* and mixed_releases, leaving the other cases as they are')
    args = parser.parse_args(argv)
    os.makedirs(args.fixtures, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix='golden-') as scratch:
        if args.only_old_releases:
            build_old_release_cases(args.fixtures, args.seed, scratch)
            print('fixtures: release_*, mixed_releases')
            return
        for case in CASES:
            build_case(args.fixtures, case, args.seed, scratch)
            print(f'fixtures: {case}')
        build_crafted_case(args.fixtures, 'crafted_keys', CRAFTED_KEYS)
        build_crafted_case(args.fixtures, 'crafted_empty_sample_name', CRAFTED_EMPTY_SAMPLE_NAME)
        print('fixtures: crafted_*')
        build_corrupt_cases(args.fixtures, args.seed, scratch)
        print('fixtures: corrupt_*')
        build_old_release_cases(args.fixtures, args.seed, scratch)
        print('fixtures: release_*, mixed_releases')


if __name__ == '__main__':
    main()
