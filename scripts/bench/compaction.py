#!/usr/bin/env python3
"""A directory after 10,000 worker deaths, with and without compaction, against one that only
ever had the live workers: files, bytes, the exporter's cold dump and warm scrape, and
prometheus_client's own scrape, all in one run.

usage: scripts/bench/compaction.py --binary .build/release/multiproc-exporter [--dead 10000]

Two shapes of app, both from ../shared/tools/gen-perf-dir.py (counters, 15-bucket histograms,
livesum gauges, and `all` gauges per worker):
  with-all-gauges   as generated: every dead worker keeps its gauge_all file, which compaction
                    leaves in place (prometheus_client labels those series by pid);
  live-gauges-only  the dead workers' gauge_all files removed first: an app whose per-worker
                    gauges are `liveall`/`livesum` (mark-dead removes them), like examples/gunicorn.
Writes .bench/compaction.{json,md}.
"""
import argparse
import http.client
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHARED = os.path.join(ROOT, '..', 'shared', 'tools')
BENCH = os.path.join(ROOT, '.bench')


def log(message):
    print(message, file=sys.stderr, flush=True)


def generate(path, pids, live, routes):
    subprocess.run([sys.executable, os.path.join(SHARED, 'gen-perf-dir.py'), path, '--pids', str(pids), '--live', str(live),
                    '--routes', str(routes)], check=True, stdout=subprocess.DEVNULL)


def size(path):
    files = [f for f in os.listdir(path) if f.endswith('.db')]
    apparent = sum(os.path.getsize(os.path.join(path, f)) for f in files)
    disk = sum(os.stat(os.path.join(path, f)).st_blocks * 512 for f in files)
    return len(files), apparent, disk


def cold(binary, path, runs=5):
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([binary, 'dump', '--multiproc-dir', path], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def warm(binary, path):
    """Median of in-process warm scrapes: 50, or 2,000 when one takes under a millisecond (the
    median of 50 scrapes of 0.1 ms moves by 2x with whatever else the machine does)."""
    def median(iterations):
        out = subprocess.run([binary, 'profile', '--multiproc-dir', path, '--iterations', str(iterations)], check=True,
                             capture_output=True, text=True).stdout
        return float(re.search(r'warm_median_seconds (\S+)', out).group(1))
    first = median(50)
    return median(2000) if first < 1e-3 else first


def python_scrape(path):
    out = subprocess.run([sys.executable, os.path.join(SHARED, 'python-scrape.py'), path, '1'], check=True,
                         capture_output=True, text=True).stdout
    return float(re.search(r'median (\S+)s', out).group(1))


def measure(binary, path, label):
    files, apparent, disk = size(path)
    result = {'files': files, 'apparent_bytes': apparent, 'disk_bytes': disk,
              'cold_dump_s': cold(binary, path), 'warm_scrape_s': warm(binary, path), 'python_scrape_s': python_scrape(path)}
    log(f'  {label}: {files} files, {apparent / 2**20:.0f} MiB, cold {result["cold_dump_s"] * 1e3:.1f} ms, '
        f'warm {result["warm_scrape_s"] * 1e3:.2f} ms, Python {result["python_scrape_s"]:.2f} s')
    return result


def compact(binary, path, dead_pids):
    """Marks every dead pid dead over HTTP, as child_exit does, and lets serve --compaction fold them."""
    log_path = path + '.log'
    with open(log_path, 'w') as log_file:  # a file, not a pipe: 10,000 log lines must never block the server
        proc = subprocess.Popen([binary, 'serve', '--multiproc-dir', path, '--web.listen-address', '127.0.0.1:0', '--compaction',
                                 '--compaction.delay', '0s', '--compaction.interval', '1s'], stderr=log_file)
    port = None
    while port is None:
        if proc.poll() is not None:
            sys.exit(f'serve exited: {open(log_path).read()[-500:]}')
        found = re.search(r'msg=listening address=127\.0\.0\.1:(\d+)', open(log_path).read())
        port = int(found.group(1)) if found else None
        time.sleep(0.05)
    started = time.perf_counter()
    conn = http.client.HTTPConnection('127.0.0.1', port, timeout=60)
    for pid in dead_pids:
        conn.request('POST', f'/mark-dead/{pid}', body=b'')
        conn.getresponse().read()
    marked = time.perf_counter() - started
    left = set(str(p) for p in dead_pids)
    while True:
        present = {m.group(1) for m in (re.match(r'(?:counter|histogram)_(\d+)\.db$', f) for f in os.listdir(path)) if m}
        if not (present & left):
            break
        time.sleep(0.2)
    folded = time.perf_counter() - started
    proc.terminate()
    proc.wait()
    os.remove(log_path)
    log(f'  marked {len(dead_pids)} pids dead in {marked:.1f} s, all folded {folded:.1f} s after the first mark')
    return {'mark_dead_s': marked, 'all_folded_after_s': folded}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--binary', required=True)
    parser.add_argument('--dead', type=int, default=10_000)
    parser.add_argument('--live', type=int, default=16)
    parser.add_argument('--routes', type=int, default=5)
    args = parser.parse_args()
    os.makedirs(BENCH, exist_ok=True)
    results = {'dead': args.dead, 'live': args.live, 'routes': args.routes}
    live_only = os.path.join(BENCH, 'compaction-live-only')
    generate(live_only, args.live, args.live, args.routes)
    log('live workers only')
    results['live_only'] = measure(args.binary, live_only, 'live only')
    shutil.rmtree(live_only)
    for shape in ['live-gauges-only', 'with-all-gauges']:
        log(shape)
        path = os.path.join(BENCH, f'compaction-{shape}')
        generate(path, args.dead + args.live, args.live, args.routes)
        dead = list(range(10000, 10000 + args.dead))
        if shape == 'live-gauges-only':
            for pid in dead:
                os.remove(os.path.join(path, f'gauge_all_{pid}.db'))
        entry = {'before': measure(args.binary, path, 'before compaction')}
        entry['compaction'] = compact(args.binary, path, dead)
        entry['after'] = measure(args.binary, path, 'after compaction')
        results[shape] = entry
        shutil.rmtree(path)
    with open(os.path.join(BENCH, 'compaction.json'), 'w') as f:
        json.dump(results, f, indent=1)
    print(json.dumps(results, indent=1))


if __name__ == '__main__':
    main()
