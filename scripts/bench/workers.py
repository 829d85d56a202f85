#!/usr/bin/env python3
"""What the workers collector costs a warm scrape (`make bench`, after run.py).

perf_m (../shared/tools/gen-perf-dir.py --pids 200 --routes 50 --live 16) with its 16 live pids
made real: a Python parent (prometheus_client imported, as an app's arbiter) forks 16 workers
without exec and gives each one live pid's files (renamed to the worker's pid); each maps them
read-write and shared, as prometheus_client does, then sleeps. The 184 other pids are dead
workers' files.

Two exporters serve that directory at once: `serve` (the collector on, its default) and
`serve --no-collector.workers`. They are scraped in alternating rounds on keep-alive
connections, and the medians over all rounds are compared: the ratio is the collector's cost
on a warm scrape. Then the duration of one look at the processes
(multiproc_exporter_workers_read_duration_seconds) for 4, 16 and 64 live workers, with the
dead pids of perf_m, and for 16 without any: proportional to the live ones, not the dead.

usage: scripts/bench/workers.py --binary .build-static/release/multiproc-exporter [--rounds 20 --per-round 100]
Writes .bench/workers.json.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import run  # noqa: E402  (generate, Exporter, log)

APP = r'''
import mmap, os, sys, time
import prometheus_client  # an app's size
directory, generated = sys.argv[1], [int(p) for p in sys.argv[2:]]
gates, workers = [], []
for _ in generated:
    gate, opened = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.read(gate, 1)  # the parent gave this worker its files
        maps = []
        for name in os.listdir(directory):
            if name.endswith(f'_{os.getpid()}.db'):
                f = open(os.path.join(directory, name), 'r+b')
                maps.append(mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_WRITE))
        os.write(1, b'ready %d\n' % os.getpid())  # one write: workers print at once (and print() may write in parts)
        time.sleep(3600)
        os._exit(0)
    gates.append(opened)
    workers.append(pid)

def move(old, new):
    for name in os.listdir(directory):
        if name.endswith(f'_{old}.db'):
            os.rename(os.path.join(directory, name), os.path.join(directory, name[:-len(f'{old}.db')] + f'{new}.db'))

# A generated pid may be a worker's real pid: such files move out of the way first.
for i, gen in enumerate(generated):
    if gen in workers:
        move(gen, gen + 2_000_000)
        generated[i] = gen + 2_000_000
for pid in workers:
    if any(n.endswith(f'_{pid}.db') for n in os.listdir(directory)):
        move(pid, pid + 3_000_000)
for gen, pid, gate in zip(generated, workers, gates):
    move(gen, pid)
    os.write(gate, b'g')
time.sleep(3600)
'''


class App:
    """The parent and its workers, each owning one generated live pid's files."""

    def __init__(self, directory, generated):
        self.proc = subprocess.Popen([sys.executable, '-c', APP, directory, *map(str, generated)],
                                     stdout=subprocess.PIPE, text=True, start_new_session=True)
        self.workers = [int(self.proc.stdout.readline().split()[1]) for _ in generated]

    def stop(self):
        os.killpg(self.proc.pid, 9)
        self.proc.wait()


def prepare(work, live, keep_dead=True):
    """perf_m copied, with `live` of its pids turned into live workers (the generator's live
    pids first, then dead ones: their files are alike); without the other pids' files unless
    `keep_dead`."""
    source, info = run.generate('m', work)
    directory = run.fresh_copy(source, work, f'workers_{live}')
    pids = sorted({int(n.rsplit('_', 1)[1][:-3]) for n in os.listdir(directory)}, reverse=True)
    if not keep_dead:
        for name in os.listdir(directory):
            if int(name.rsplit('_', 1)[1][:-3]) not in pids[:live]:
                os.remove(os.path.join(directory, name))
    # The generator's pids were never processes here: one that a process of this machine holds,
    # and held before the files were made (a kernel thread), would show the names as another
    # pid namespace's, and nothing would be served. Such files move to a pid nobody holds.
    for pid in pids[live:]:
        if os.path.exists(f'/proc/{pid}'):
            free = next(p for p in range(pid + 3_000_000, 1 << 30, 7919) if not os.path.exists(f'/proc/{p}'))
            for name in os.listdir(directory):
                if name.endswith(f'_{pid}.db'):
                    os.rename(os.path.join(directory, name), os.path.join(directory, name[:-len(f'{pid}.db')] + f'{free}.db'))
    return directory, App(directory, pids[:live]), info


def read_duration(exporter):
    _, body = exporter.get('/metrics')
    for line in body.decode().splitlines():
        if line.startswith('multiproc_exporter_workers_read_duration_seconds '):
            return float(line.split()[1])
    raise RuntimeError('no read duration served')


def compare(binary, work, rounds, per_round):
    directory, app, info = prepare(work, 16)
    on = run.Exporter(binary, directory)
    off = run.Exporter(binary, directory, '--no-collector.workers')
    try:
        for exporter in (on, off):
            exporter.scrape()  # the cold scrape
            exporter.median_scrape(per_round)
        times = {'on': [], 'off': []}
        cpu = {'on': 0.0, 'off': 0.0}
        paired = []  # per round: median on / median off, the two measured back to back
        for r in range(rounds):
            medians = {}
            for name, exporter in (('on', on), ('off', off)) if r % 2 == 0 else (('off', off), ('on', on)):
                before = run.cpu_seconds(exporter.proc.pid)
                round_times = [exporter.scrape()[0] for _ in range(per_round)]
                cpu[name] += run.cpu_seconds(exporter.proc.pid) - before
                times[name] += round_times
                medians[name] = statistics.median(round_times)
            paired.append(medians['on'] / medians['off'])
        body_on, body_off = len(on.scrape()[1]), len(off.scrape()[1])
        served = on.get('/metrics')[1].decode()
        workers = sum(1 for line in served.splitlines() if line.startswith('multiproc_worker_threads{'))
        assert workers == 16, f'{workers} workers served'
        looks = [read_duration(on) for _ in range(200)]
    finally:
        on.stop()
        off.stop()
        app.stop()
        shutil.rmtree(directory, ignore_errors=True)
    m_on, m_off = statistics.median(times['on']), statistics.median(times['off'])
    return {'files': info['files'], 'entries': info['entries'], 'live_workers': 16, 'dead_pids': 184,
            'scrapes_each': len(times['on']), 'median_on_s': m_on, 'median_off_s': m_off, 'ratio': m_on / m_off,
            'paired_ratio_median': statistics.median(paired), 'paired_ratios': paired,
            'p90_on_s': statistics.quantiles(times['on'], n=10)[8], 'p90_off_s': statistics.quantiles(times['off'], n=10)[8],
            'body_on_bytes': body_on, 'body_off_bytes': body_off, 'look_median_s': statistics.median(looks),
            'cpu_per_scrape_on_s': cpu['on'] / len(times['on']), 'cpu_per_scrape_off_s': cpu['off'] / len(times['off'])}


def scaling(binary, work, shapes):
    out = []
    for live, keep_dead in shapes:
        directory, app, _ = prepare(work, live, keep_dead)
        exporter = run.Exporter(binary, directory)
        try:
            exporter.scrape()
            looks = [read_duration(exporter) for _ in range(200)]
        finally:
            exporter.stop()
            app.stop()
            shutil.rmtree(directory, ignore_errors=True)
        out.append({'live_workers': live, 'dead_pids': 200 - live if keep_dead else 0, 'look_median_s': statistics.median(looks),
                    'look_p90_s': statistics.quantiles(looks, n=10)[8]})
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--binary', default=os.path.join(run.ROOT, '.build-static/release/multiproc-exporter'))
    ap.add_argument('--work', default=os.path.join(run.ROOT, '.bench'))
    ap.add_argument('--rounds', type=int, default=20)
    ap.add_argument('--per-round', type=int, default=100)
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    run.log('[workers] perf_m, 16 live workers: collector on vs --no-collector.workers')
    result = {'compare': compare(a.binary, a.work, a.rounds, a.per_round)}
    run.log('[workers] one look, by live workers')
    result['scaling'] = scaling(a.binary, a.work, [(4, True), (16, True), (16, False), (64, True)])
    json.dump(result, open(os.path.join(a.work, 'workers.json'), 'w'), indent=1)
    c = result['compare']
    ms = lambda s: f'{s * 1000:.2f} ms'
    print(f"warm /metrics, perf_m ({c['files']} files, 16 live workers, 184 dead pids), {c['scrapes_each']} scrapes each, alternating rounds:")
    print("| collector | median | p90 | body |\n|---|---|---|---|")
    print(f"| on (default) | {ms(c['median_on_s'])} | {ms(c['p90_on_s'])} | {c['body_on_bytes']:,} B |")
    print(f"| off (--no-collector.workers) | {ms(c['median_off_s'])} | {ms(c['p90_off_s'])} | {c['body_off_bytes']:,} B |")
    print(f"ratio on/off: {c['ratio']:.3f} (median of the {len(c['paired_ratios'])} rounds' own ratios: {c['paired_ratio_median']:.3f}); one look at the processes: {c['look_median_s'] * 1e6:.0f} us median; "
          f"CPU per scrape {ms(c['cpu_per_scrape_on_s'])} on, {ms(c['cpu_per_scrape_off_s'])} off "
          f"({c['cpu_per_scrape_on_s'] / c['cpu_per_scrape_off_s']:.3f})")
    print('| live workers | dead pids | one look, median | p90 |\n|---|---|---|---|')
    for s in result['scaling']:
        print(f"| {s['live_workers']} | {s['dead_pids']} | {s['look_median_s'] * 1e6:.0f} us | {s['look_p90_s'] * 1e6:.0f} us |")


if __name__ == '__main__':
    main()
