#!/usr/bin/env python3
"""Cost of one auto mark-dead check (BENCHMARKS.md, "Auto mark-dead"): the exporter serves a
pre-fork master that SIGKILLs a worker every 0.4 s (prefork_kill.py, FORKS forks) with
`--auto-mark-dead.interval 200ms --log.level debug`, and the durations its checks log are
summarised: checks where every pid is alive, and checks that found a pid dead (those also look
at every visible process's maps and hash the pid's files).

usage: scripts/auto_mark_dead/bench.py --binary .build/release/multiproc-exporter [--forks 40]
"""
import argparse
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--binary', required=True)
    parser.add_argument('--forks', type=int, default=40)
    args = parser.parse_args()
    directory = tempfile.mkdtemp(prefix='amd-bench-', dir='/dev/shm')
    log = tempfile.NamedTemporaryFile('w+', suffix='.log')
    exporter = subprocess.Popen([args.binary, 'serve', '--multiproc-dir', directory, '--web.listen-address', '127.0.0.1:0',
                                 '--auto-mark-dead', '--auto-mark-dead.interval', '200ms', '--log.level', 'debug'], stderr=log)
    master = subprocess.Popen([sys.executable, os.path.join(HERE, 'prefork_kill.py'), str(args.forks)],
                              env=dict(os.environ, PROMETHEUS_MULTIPROC_DIR=directory), stdout=subprocess.PIPE, text=True)
    master.stdout.readline()
    time.sleep(1)
    master.send_signal(signal.SIGTERM)
    master.wait()
    exporter.send_signal(signal.SIGTERM)
    exporter.wait()
    log.seek(0)
    quiet, found = [], []
    for line in log:
        match = re.search(r'msg="auto mark-dead check" dead=(\d+) duration_seconds=([0-9.e-]+) pids=(\d+) skipped=(\S*)', line)
        if match:
            (found if match.group(1) != '0' or 'unconfirmed' in match.group(4) else quiet).append(float(match.group(2)) * 1000)
    processes = len([p for p in os.listdir('/proc') if p.isdigit()])
    for name, values in (('all pids alive', quiet), ('a pid found dead', found)):
        values.sort()
        print(f'{name:18} checks {len(values):3}  median {statistics.median(values):6.2f} ms  '
              f'p90 {values[int(len(values) * 0.9)]:6.2f} ms  max {values[-1]:6.2f} ms')
    print(f'({processes} processes visible in /proc, {len(os.listdir(directory))} files left, {args.forks} forks)')
    subprocess.run(['rm', '-rf', directory])


if __name__ == '__main__':
    main()
