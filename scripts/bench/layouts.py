#!/usr/bin/env python3
"""Cold and warm ratios per file layout, each against the Python release that writes it.

    scripts/bench/layouts.py --binary .build/release/multiproc-exporter [--baseline OTHER_BINARY]

In one run, for perf_m (`gen-perf-dir.py --pids 200 --routes 50 --live 16`) generated in
today's layout (k4v16) and in 0.16's (k4v8), and optionally 0.4-0.15's (k3v8 with
--layouts k4v16,k4v8,k3v8):

- Python: median of 3 scrapes by ../shared/tools/python-scrape.py run with the python of the
  release that writes the layout (0.26.0 for k4v16, 0.16.0 for k4v8, 0.9.0 for k3v8; the
  venvs of scripts/clients/venvs.py). Releases before 0.18 lack
  `CollectorRegistry(support_collectors_without_names=...)`, which the script passes; there it
  is dropped (it only silences a check that such registries never make), nothing else changes;
- cold: `hyperfine -N --warmup 2 --runs 10` median of `dump`;
- warm: median of 200 `GET /metrics` on a keep-alive connection to `serve`, after one scrape.

With --baseline, the same cold and warm numbers for a second binary (e.g. main before this
branch) on the same directories, to show what layout detection costs on today's layout.
Prints a markdown table.
"""
import argparse
import json
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, 'scripts', 'clients'))

import run  # noqa: E402
import venvs  # noqa: E402

PERF_M = ['--pids', '200', '--routes', '50', '--live', '16']
RELEASE_OF = {'k4v16': '0.26.0', 'k4v8': '0.16.0', 'k3v8': '0.9.0'}
# python-scrape.py under a release that lacks the registry argument: drop it, run the script.
SHIM = ('import runpy, sys, inspect\n'
        'from prometheus_client import registry\n'
        'init = registry.CollectorRegistry.__init__\n'
        'if "support_collectors_without_names" not in inspect.signature(init).parameters:\n'
        '    registry.CollectorRegistry.__init__ = lambda self, *a, support_collectors_without_names=False, **k: init(self, *a, **k)\n'
        'sys.argv = sys.argv[1:]\n'
        'runpy.run_path(sys.argv[0], run_name="__main__")\n')


def generate(layout, work):
    directory = os.path.join(work, f'perf_m_{layout}')
    stamp = directory + '.json'
    if not (os.path.exists(stamp) and os.path.isdir(directory)):
        run.log(f'generating perf_m in {layout} ...')
        out = subprocess.run([sys.executable, os.path.join(run.SHARED, 'gen-perf-dir.py'), directory, *PERF_M,
                              '--layout', layout], check=True, capture_output=True, text=True).stdout
        json.dump(json.loads(out.strip().splitlines()[-1]), open(stamp, 'w'))
    return directory, json.load(open(stamp))


def python_scrape(python, directory, runs=3):
    out = subprocess.run([python, '-c', SHIM, os.path.join(run.SHARED, 'python-scrape.py'), directory, str(runs)],
                         check=True, capture_output=True, text=True).stdout
    return float(re.search(r'median ([0-9.]+)s', out).group(1))


def ours(binary, directory, work, name):
    cold, _ = run.cold_dump(binary, directory, 10)
    copy = run.fresh_copy(directory, work, f'serve_{name}')
    exporter = run.Exporter(binary, copy)
    try:
        exporter.scrape()
        warm, size = exporter.median_scrape(200)
    finally:
        exporter.stop()
    return cold, warm, size


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--binary', default=os.path.join(ROOT, '.build/release/multiproc-exporter'))
    ap.add_argument('--baseline', help='a second binary timed on the same directories')
    ap.add_argument('--layouts', default='k4v16,k4v8')
    ap.add_argument('--work', default=os.path.join(ROOT, '.bench'))
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    layouts = a.layouts.split(',')
    pythons = venvs.ensure(os.path.join(ROOT, '.venvs'), [RELEASE_OF[l] for l in layouts])
    rows = []
    for layout in layouts:
        directory, info = generate(layout, a.work)
        release = RELEASE_OF[layout]
        run.log(f'[{layout}] python {release}')
        py = python_scrape(pythons[release], directory)
        run.log(f'[{layout}] ours')
        cold, warm, size = ours(os.path.abspath(a.binary), directory, a.work, layout)
        row = {'layout': layout, 'release': release, 'files': info.get('files'), 'entries': info.get('entries'),
               'python_s': py, 'cold_s': cold, 'warm_s': warm, 'body_bytes': size}
        if a.baseline:
            row['baseline_cold_s'], row['baseline_warm_s'], _ = ours(os.path.abspath(a.baseline), directory, a.work, layout + '_base')
        rows.append(row)
        run.log(json.dumps(row))
    print('| layout | Python | files | entries | Python scrape | cold `dump` | ratio | warm `/metrics` | ratio |'
          + (' baseline cold | baseline warm |' if a.baseline else ''))
    print('|---|---|---|---|---|---|---|---|---|' + ('---|---|' if a.baseline else ''))
    for r in rows:
        line = (f"| {r['layout']} | {r['release']} | {r['files']} | {r['entries']} | {r['python_s'] * 1000:,.1f} ms | "
                f"{r['cold_s'] * 1000:.1f} ms | {r['python_s'] / r['cold_s']:.1f}× | {r['warm_s'] * 1000:.2f} ms | "
                f"{r['python_s'] / r['warm_s']:.0f}× |")
        if a.baseline:
            line += f" {r['baseline_cold_s'] * 1000:.1f} ms | {r['baseline_warm_s'] * 1000:.2f} ms |"
        print(line)
    json.dump(rows, open(os.path.join(a.work, 'layouts.json'), 'w'), indent=1)


if __name__ == '__main__':
    main()
