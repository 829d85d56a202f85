#!/usr/bin/env python3
"""Memory of compaction (and of marking many pids dead), measured on a real directory.

  compaction_memory.py --binary B --source DIR [--work W] [--json OUT] [--check]
  compaction_memory.py --binary B --generate PIDS,ROUTES,LIVE --check --peak-slack-mib 8   (make test)

DIR is a directory of prometheus_client files, e.g. written by
`../shared/tools/gen-perf-dir.py DIR --pids 2500 --routes 50 --live 16`: its pids with a
`gauge_livesum_*` file are live, the others dead (their workers exited). It is copied for each
measurement (compaction changes the copy). Measured, as RssAnon of the exporter process
(/proc/PID/status, sampled every 10 ms; file mappings are not counted: they are the page cache):

  serve --compaction   steady state (3 scrapes), then every dead pid marked dead over HTTP:
                       peak during the passes, kept after (10 scrapes), and a fresh exporter
                       on the compacted directory (3 scrapes);
  compact (one-shot)   every dead pid marked dead with `mark-dead`, then one `compact` process
                       per pass until nothing is left: its peak; and a fresh exporter after;
  serve (no compaction) steady state, every dead pid marked dead, kept after 10 scrapes, and a
                       fresh exporter on the same directory.

With --check, exits 1 unless (the bounds of issue 23): the peak during compaction is within
1.5x the steady state or +128 MiB, whichever is larger (scaled: --peak-slack-mib); what is kept
afterwards is within 2x a fresh exporter's + 16 MiB (--kept-slack-mib); the same for marking
pids dead without compaction.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
import testkit  # noqa: E402  (app_directory, for --generate)

MIB = 1 << 20


def rss_anon(pid):
    """RssAnon of `pid` in bytes, or None once it exited."""
    try:
        with open(f'/proc/{pid}/status') as f:
            for line in f:
                if line.startswith('RssAnon:'):
                    return int(line.split()[1]) * 1024
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


class PeakSampler:
    """Samples RssAnon of a pid every 10 ms in a thread; `peak` is the largest seen."""

    def __init__(self, pid):
        self.pid, self.peak, self._stop = pid, 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            value = rss_anon(self.pid)
            if value is None:
                return
            self.peak = max(self.peak, value)
            time.sleep(0.01)

    def stop(self):
        self._stop.set()
        self._thread.join()
        return self.peak


class Server:
    def __init__(self, binary, directory, log, *args):
        self.log_path = log
        self.process = subprocess.Popen([binary, 'serve', '--multiproc-dir', directory, '--web.listen-address', '127.0.0.1:0',
                                         *args], stdout=subprocess.DEVNULL, stderr=open(log, 'w'))
        deadline = time.time() + 60
        while time.time() < deadline:
            match = re.search(r'msg=listening address=([0-9.]+:\d+)', open(log).read())
            if match:
                self.url = f'http://{match.group(1)}'
                return
            if self.process.poll() is not None:
                sys.exit(f'serve exited: {open(log).read()[-2000:]}')
            time.sleep(0.05)
        sys.exit('serve did not listen')

    def scrape(self):
        return urllib.request.urlopen(self.url + '/metrics', timeout=600).read().decode()

    def mark_dead(self, pid):
        urllib.request.urlopen(urllib.request.Request(f'{self.url}/mark-dead/{pid}', method='POST', data=b''), timeout=60).read()

    def rss(self):
        return rss_anon(self.process.pid)

    def stop(self):
        self.process.terminate()
        self.process.wait(30)


def dead_pids(directory):
    pids = {m.group(1) for n in os.listdir(directory) if (m := re.match(r'[a-z_]+_(\d+)\.db$', n)) and m.group(1) != '0'}
    live = {m.group(1) for n in os.listdir(directory) if (m := re.match(r'gauge_live[a-z]+_(\d+)\.db$', n))}
    return sorted(pids - live, key=int)


def fresh(binary, directory, work):
    """RssAnon of a fresh exporter after 3 scrapes of `directory`."""
    server = Server(binary, directory, os.path.join(work, 'fresh.log'))
    for _ in range(3):
        server.scrape()
    value = server.rss()
    server.stop()
    return value


def copy(source, work, name):
    target = os.path.join(work, name)
    shutil.copytree(source, target)
    return target


def serve_compaction(args, work):
    directory = copy(args.source, work, 'compaction')
    dead = dead_pids(directory)
    server = Server(args.binary, directory, os.path.join(work, 'serve.log'), '--compaction', '--compaction.delay', '0s',
                    '--compaction.interval', '1s')
    for _ in range(3):
        server.scrape()
    steady = server.rss()
    sampler = PeakSampler(server.process.pid)
    started = time.time()
    for pid in dead:
        server.mark_dead(pid)
    # Done when no file of a dead pid but its `all` gauges is left.
    left = set(dead)
    while left:
        names = os.listdir(directory)
        left = {p for p in left if any(n.endswith(f'_{p}.db') and not n.startswith('gauge_all_') for n in names)}
        if time.time() - started > 1800:
            sys.exit(f'compaction did not finish in 30 minutes: {len(left)} pids left')
        time.sleep(0.2)
    duration = time.time() - started
    for _ in range(10):
        server.scrape()
    peak = sampler.stop()
    kept = server.rss()
    server.stop()
    held = [int(h) for h in re.findall(r'held_bytes=(\d+)', open(server.log_path).read())]
    return {'pids': len(dead), 'steady': steady, 'peak': peak, 'kept': kept, 'fresh': fresh(args.binary, directory, work),
            'seconds': duration, 'passes': len(held), 'held_bytes_max': max(held, default=0),
            'files_after': len(os.listdir(directory))}


def one_shot(args, work):
    directory = copy(args.source, work, 'oneshot')
    dead = dead_pids(directory)
    for pid in dead:
        subprocess.run([args.binary, 'mark-dead', pid, '--multiproc-dir', directory], check=True, capture_output=True)
    peak, runs = 0, 0
    started = time.time()
    while True:
        process = subprocess.Popen([args.binary, 'compact', '--multiproc-dir', directory, '--compaction.delay', '0s'],
                                   stdout=subprocess.PIPE, text=True)
        sampler = PeakSampler(process.pid)
        out, _ = process.communicate()
        peak = max(peak, sampler.stop())
        runs += 1
        if process.returncode != 0:
            sys.exit(f'compact exited {process.returncode}: {out}')
        if 'folded_pids=0 ' in out:
            break
    return {'pids': len(dead), 'peak': peak, 'runs': runs, 'seconds': time.time() - started,
            'fresh': fresh(args.binary, directory, work)}


def mark_without_compaction(args, work):
    directory = copy(args.source, work, 'marking')
    dead = dead_pids(directory)
    server = Server(args.binary, directory, os.path.join(work, 'marking.log'))
    for _ in range(3):
        server.scrape()
    steady = server.rss()
    sampler = PeakSampler(server.process.pid)
    for pid in dead:
        server.mark_dead(pid)
    for _ in range(10):
        server.scrape()
    peak = sampler.stop()
    kept = server.rss()
    server.stop()
    return {'pids': len(dead), 'steady': steady, 'peak': peak, 'kept': kept, 'fresh': fresh(args.binary, directory, work)}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--binary', required=True)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument('--source')
    source.add_argument('--generate', help='PIDS,ROUTES,LIVE: write such a directory first (testkit.app_directory)')
    parser.add_argument('--work')
    parser.add_argument('--json')
    parser.add_argument('--check', action='store_true')
    parser.add_argument('--peak-slack-mib', type=float, default=128)
    parser.add_argument('--kept-slack-mib', type=float, default=16)
    parser.add_argument('--only', choices=['serve', 'oneshot', 'marking'], action='append')
    args = parser.parse_args()
    work = args.work or tempfile.mkdtemp(prefix='compaction-memory.')
    os.makedirs(work, exist_ok=True)
    if args.generate:
        pids, routes, live = (int(x) for x in args.generate.split(','))
        args.source = os.path.join(work, 'source')
        os.mkdir(args.source)
        testkit.app_directory(args.source, pids, routes, live)
    results = {}
    for name, measure in (('serve', serve_compaction), ('oneshot', one_shot), ('marking', mark_without_compaction)):
        if args.only and name not in args.only:
            continue
        results[name] = measure(args, work)
        r = results[name]
        print(f'{name}: ' + ', '.join(f'{k} {v / MIB:.1f} MiB' if k in ('steady', 'peak', 'kept', 'fresh') and v else f'{k} {v}'
                                       for k, v in r.items()), flush=True)
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(results, f, indent=2)
    if not args.work:
        shutil.rmtree(work)
    if args.check:
        problems = []
        for name, r in results.items():
            if 'steady' in r:
                bound = max(1.5 * r['steady'], r['steady'] + args.peak_slack_mib * MIB)
                if r['peak'] > bound:
                    problems.append(f'{name}: peak {r["peak"] / MIB:.1f} MiB > {bound / MIB:.1f} MiB')
            if 'kept' in r:
                bound = 2 * r['fresh'] + args.kept_slack_mib * MIB
                if r['kept'] > bound:
                    problems.append(f'{name}: kept {r["kept"] / MIB:.1f} MiB > 2 x fresh {r["fresh"] / MIB:.1f} + '
                                    f'{args.kept_slack_mib:g} MiB')
        if problems:
            print('FAIL: ' + '; '.join(problems))
            sys.exit(1)
        print('ok: peak and kept memory within the bounds')


if __name__ == '__main__':
    main()
