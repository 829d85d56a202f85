#!/usr/bin/env python3
"""Our reader against every prometheus_client release since 0.4, each judged by ITS OWN collector.

    scripts/clients/check_clients.py --binary .build/debug/multiproc-exporter [--seed N] [--keep]

Uses the virtualenvs of venvs.py (created on first use, cached under .venvs/). Three checks:

1. Per release (0.1.0 0.3.1 0.4.2 0.9.0 0.12.0 0.16.0 0.17.1 0.26.0): forked workers of that
   release write a directory (writer.py: every metric type and gauge mode it has, escaping,
   special floats, custom buckets, a dead pid); `dump` must equal what that release's
   MultiProcessCollector serves (before 0.4: counter families announced without `_total`), and
   `check` must name the release's layout for every file.
2. Mixed: 0.9.0, 0.16.0 and 0.26.0 workers write ONE directory, and 0.3.1, 0.9.0 and 0.26.0
   another; `dump` must equal 0.26's collector on a copy where each file was rewritten in
   today's layout (writer.py convert: HELP `Multiprocess metric` for 3-element keys, timestamp
   0 for 8-byte values, label lists as a dict, a 0.3.1 counter `x_total` as family `x`).
3. Served: per old release, `serve` watches a directory that a long-lived worker of that
   release keeps writing (new series, in-place updates, files grown past their first size),
   new forked workers join, and one is marked dead through POST /mark-dead/<pid>; after each
   step /metrics must equal that release's collector on the directory as it is then.

Bodies are compared as line multisets with values bit-exact (lines.py says exactly how).
Prints one line per check and a closing `N passed, N failed`; exits 1 on any failure.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import lines  # noqa: E402
import venvs  # noqa: E402

WRITER = os.path.join(HERE, 'writer.py')
LAYOUT_OF = {'0.1.0': 'k4lv8', '0.3.1': 'k4lv8', '0.4.2': 'k3v8', '0.9.0': 'k3v8', '0.12.0': 'k3v8', '0.16.0': 'k4v8', '0.17.1': 'k4v8', '0.26.0': 'k4v16'}
MIXED = [['0.9.0', '0.16.0', '0.26.0'], ['0.3.1', '0.9.0', '0.26.0']]
SERVED = ['0.3.1', '0.4.2', '0.9.0', '0.16.0', '0.17.1']


class Failure(Exception):
    pass


def run(cmd, **kwargs):
    result = subprocess.run(cmd, capture_output=True, timeout=300, **kwargs)
    if result.returncode != 0:
        raise Failure(f'{" ".join(cmd)} exited {result.returncode}:\n{result.stderr.decode(errors="replace")}')
    return result


def write(python, directory, seed, workers=4, dead=1, first=0):
    out = run([python, WRITER, 'write', directory, '--seed', str(seed), '--workers', str(workers),
               '--dead', str(dead), '--first-worker', str(first)]).stdout
    return json.loads(out.decode().strip().splitlines()[-1])


def record(python, directory, scratch):
    out = os.path.join(scratch, 'python.prom')
    run([python, WRITER, 'record', directory, out])
    with open(out, 'rb') as f:
        return f.read()


def dump(binary, directory):
    result = run([binary, 'dump', '--multiproc-dir', directory])
    if result.stderr.strip():
        raise Failure(f'dump warned:\n{result.stderr.decode(errors="replace")}')
    return result.stdout


def expect_equal(expected, actual, what):
    diff = lines.difference(expected, actual)
    if diff:
        raise Failure(f'{what}: bodies differ\n{diff}')
    if not expected.strip():
        raise Failure(f'{what}: Python served nothing: the check would prove nothing')


def expect_layouts(binary, directory, layout_of_file, what):
    """`check` must name each file's layout as its writer knew it."""
    out = run([binary, 'check', '--multiproc-dir', directory]).stdout.decode()
    for name, layout in layout_of_file.items():
        line = next((l for l in out.splitlines() if name in l.split()), None)
        if line is None or f'layout={layout}' not in line.split():
            raise Failure(f'{what}: check says {line!r} for {name}, expected layout {layout}')


def layouts_by_file(directory, manifests):
    layout_of_pid = {str(pid): m['layout'] for m in manifests for pid in m['pids']}
    return {name: layout_of_pid[name[:-3].rsplit('_', 1)[1]] for name in os.listdir(directory) if name.endswith('.db')}


# MARK: - The checks

def converted_expectation(pythons, directory, layouts, scratch, name):
    """0.26's collector on a copy of `directory` with every file rewritten in today's layout."""
    layouts_path = os.path.join(scratch, f'{name}-layouts.json')
    with open(layouts_path, 'w') as f:
        json.dump(layouts, f)
    expected_path = os.path.join(scratch, f'{name}-expected.prom')
    run([pythons['0.26.0'], WRITER, 'convert', directory, os.path.join(scratch, f'{name}-converted'), layouts_path, expected_path])
    with open(expected_path, 'rb') as f:
        return f.read()


def check_release(binary, pythons, version, seed, scratch):
    directory = os.path.join(scratch, f'release-{version}')
    manifest = write(pythons[version], directory, seed)
    if manifest['layout'] != LAYOUT_OF[version]:
        raise Failure(f'{version} wrote layout {manifest["layout"]}, expected {LAYOUT_OF[version]}')
    expect_equal(record(pythons[version], directory, scratch), dump(binary, directory), f'{version} dump')
    expect_layouts(binary, directory, layouts_by_file(directory, [manifest]), version)
    return f'{len(os.listdir(directory))} files, modes {",".join(manifest["modes"])}'


def check_mixed(binary, pythons, versions, seed, scratch):
    name = 'mixed-' + '-'.join(versions)
    directory = os.path.join(scratch, name)
    manifests = [write(pythons[v], directory, seed + i, workers=2, dead=1, first=10 * i) for i, v in enumerate(versions)]
    layouts = layouts_by_file(directory, manifests)
    expect_equal(converted_expectation(pythons, directory, layouts, scratch, name), dump(binary, directory), f'{name} dump')
    expect_layouts(binary, directory, layouts, name)
    counts = {l: list(layouts.values()).count(l) for l in sorted(set(layouts.values()))}
    return f'{len(layouts)} files by layout {counts}'


class Server:
    def __init__(self, binary, directory):
        # The log goes to a file: a pipe nobody reads would block the server once full.
        self.log = directory + '.serve.log'
        with open(self.log, 'wb') as log:
            self.process = subprocess.Popen([binary, 'serve', '--multiproc-dir', directory, '--web.listen-address',
                                             '127.0.0.1:0', '--web.disable-exporter-metrics', '--no-collector.workers'],
                                            stdout=subprocess.DEVNULL, stderr=log)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and self.process.poll() is None:
            with open(self.log, errors='replace') as f:
                match = re.search(r'listening address=\S*?:(\d+)', f.read())
            if match:
                self.url = f'http://127.0.0.1:{match.group(1)}'
                return
            time.sleep(0.05)
        self.stop()
        raise Failure('serve did not report its address')

    def get(self, path='/metrics'):
        with urllib.request.urlopen(self.url + path, timeout=30) as response:
            return response.read()

    def mark_dead(self, pid):
        request = urllib.request.Request(f'{self.url}/mark-dead/{pid}', method='POST', data=b'')
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=15)


def check_served(binary, pythons, version, seed, scratch, steps=3):
    directory = os.path.join(scratch, f'served-{version}')
    python = pythons[version]
    write(python, directory, seed, workers=2, dead=1)
    server = Server(binary, directory)
    stepper = subprocess.Popen([python, WRITER, 'steps', directory, '--seed', str(seed)],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        if not stepper.stdout.readline().startswith('ready'):
            raise Failure(f'{version}: the long-lived worker did not start')
        expect_equal(record(python, directory, scratch), server.get(), f'{version} served, before the worker')
        for step in range(1, steps + 1):
            stepper.stdin.write(f'step {step}\n')
            stepper.stdin.flush()
            if stepper.stdout.readline().strip() != f'done {step}':
                raise Failure(f'{version}: the long-lived worker failed at step {step}')
            if step == 1:
                joined = write(python, directory, seed + step, workers=1, dead=0, first=50)
                server.mark_dead(joined['pids'][0])
            expect_equal(record(python, directory, scratch), server.get(), f'{version} served, step {step}')
        # The writer must have grown a file past its first size (1 MiB before 0.16, 64 KiB after).
        first_size = 1 << 20 if LAYOUT_OF[version] in ('k4lv8', 'k3v8') else 1 << 16
        largest = max(os.path.getsize(os.path.join(directory, n)) for n in os.listdir(directory))
        if largest <= first_size:
            raise Failure(f'{version}: no file grew past {first_size} bytes (largest {largest})')
        with open(server.log, errors='replace') as f:
            warnings = [l for l in f if 'level=warn' in l or 'level=error' in l]
        if warnings:
            raise Failure(f'{version}: serve logged problems:\n' + ''.join(warnings[:10]))
        return f'{steps} steps of a live writer (largest file {largest >> 10} KiB), a worker marked dead over HTTP'
    finally:
        stepper.stdin.close()
        stepper.wait(timeout=30)
        server.stop()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--binary', default='.build/debug/multiproc-exporter')
    parser.add_argument('--seed', type=int, default=None)
    parser.add_argument('--keep', action='store_true')
    args = parser.parse_args(argv)
    binary = os.path.abspath(args.binary)
    seed = args.seed if args.seed is not None else int(time.time()) % 100000
    started = time.monotonic()
    pythons = venvs.ensure(os.path.join(venvs.ROOT, '.venvs'), venvs.VERSIONS)
    print(f'clients: venvs ready in {time.monotonic() - started:.1f}s; seed {seed}')
    scratch = tempfile.mkdtemp(prefix='clients-')
    checks = [(f'release {v}', lambda v=v: check_release(binary, pythons, v, seed, scratch)) for v in venvs.VERSIONS]
    checks += [('mixed ' + '+'.join(m), lambda m=m: check_mixed(binary, pythons, m, seed, scratch)) for m in MIXED]
    checks += [(f'served {v}', lambda v=v: check_served(binary, pythons, v, seed, scratch)) for v in SERVED]
    passed = failed = 0
    try:
        for name, check in checks:
            t = time.monotonic()
            try:
                detail = check()
                passed += 1
                print(f'clients: ok {name}: {detail} ({time.monotonic() - t:.1f}s)', flush=True)
            except Failure as e:
                failed += 1
                print(f'clients: FAIL {name} (replay: --seed {seed} --keep)\n{e}', flush=True)
    finally:
        if args.keep:
            print(f'clients: kept {scratch}')
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    print(f'clients: {passed} passed, {failed} failed in {time.monotonic() - started:.1f}s')
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
