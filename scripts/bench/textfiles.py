#!/usr/bin/env python3
"""What --textfile.directory costs a scrape: every textfile is read and parsed again each time.

    scripts/bench/textfiles.py --binary .build/release/multiproc-exporter [--files 100] [--series 100]

Writes `--files` textfiles with the real `write_to_textfile`, each with `--series` series (a
labelled gauge, a labelled counter with its `_created`, a histogram of 12 buckets: about
`--series` lines in four families per file), beside the demo .db directory (scripts/demo_dir.py).
Reports, for `serve` with and without the textfile directory, the median and the fastest of 300
warm `GET /metrics` on a keep-alive connection, the exporter's CPU time per scrape (from
/proc/<pid>/stat: steadier than wall time on a loaded machine), and the textfiles' size.
Prints a markdown table.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import run  # noqa: E402


def write_textfiles(directory, files, series):
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, write_to_textfile
    for index in range(files):
        registry = CollectorRegistry()
        per_family = max(1, (series - 15) // 2)
        gauge = Gauge(f'job{index}_queue_depth', 'Queue depth.', ['queue'], registry=registry)
        counter = Counter(f'job{index}_items', 'Items.', ['kind'], registry=registry)
        for i in range(per_family // 2):
            gauge.labels(f'q{i}').set(i * 1.5)
            counter.labels(f'k{i}').inc(i)
        Histogram(f'job{index}_seconds', 'Durations.', registry=registry).observe(0.3)
        write_to_textfile(os.path.join(directory, f'job{index}.prom'), registry)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--binary', required=True)
    parser.add_argument('--files', type=int, default=100)
    parser.add_argument('--series', type=int, default=100)
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix='bench-textfiles-')
    try:
        db = os.path.join(work, 'db')
        subprocess.run([sys.executable, os.path.join(os.path.dirname(HERE), 'demo_dir.py'), db], check=True, capture_output=True)
        textfiles = os.path.join(work, 'textfiles')
        os.makedirs(textfiles)
        write_textfiles(textfiles, args.files, args.series)
        size = sum(os.path.getsize(os.path.join(textfiles, n)) for n in os.listdir(textfiles))
        lines = sum(1 for n in os.listdir(textfiles) for line in open(os.path.join(textfiles, n)) if not line.startswith('#'))
        rows = []
        for label, extra in (('.db only', []), (f'.db + {args.files} textfiles', ['--textfile.directory', textfiles])):
            exporter = run.Exporter(os.path.abspath(args.binary), db, *extra)
            try:
                exporter.scrape()
                cpu = run.cpu_seconds(exporter.proc.pid)
                times = [exporter.scrape()[0] for _ in range(300)]
                cpu = (run.cpu_seconds(exporter.proc.pid) - cpu) / len(times)
                body = len(exporter.scrape()[1])
            finally:
                exporter.stop()
            rows.append((label, statistics.median(times), min(times), cpu, body))
        print(f'textfiles: {args.files} files, {size / 1024:.0f} KiB, {lines} sample lines\n')
        print(f'load average before: {os.getloadavg()[0]:.1f}\n')
        print('| serve | warm GET /metrics: median | min | CPU per scrape | body |')
        print('|---|---|---|---|---|')
        for label, median, fastest, cpu, body in rows:
            print(f'| {label} | {median * 1000:.2f} ms | {fastest * 1000:.2f} ms | {cpu * 1000:.2f} ms | {body / 1024:.0f} KiB |')
    finally:
        shutil.rmtree(work)


if __name__ == '__main__':
    main()
