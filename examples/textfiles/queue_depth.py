#!/usr/bin/env python3
"""Recipe 2: a custom collector, run on a timer in ONE process.

A custom collector (a queue depth read from the broker, a cache size, a license expiry) would
run in every worker and be merged by nobody in multiprocess mode. Run it in one process
instead, every 15 seconds, and write what it yields to the textfile directory:

    # gunicorn.conf.py: one thread in the master, which lives as long as the app
    from queue_depth import start_in_background

    def when_ready(server):
        start_in_background(os.environ['TEXTFILE_DIR'], interval=15)

Or run this file as a process of its own (a systemd service, a container beside the app):
`TEXTFILE_DIR=/run/myapp-textfiles python3 queue_depth.py` (`--once` writes once and exits).

Yield *MetricFamily objects from collect(), as here. Counter(), Gauge() and the like would
write .db files while PROMETHEUS_MULTIPROC_DIR is set (the master has it), and the exporter
serves a family found in both places from the .db files only.
"""
import os
import sys
import threading
import time

from prometheus_client import CollectorRegistry, write_to_textfile
from prometheus_client.core import GaugeMetricFamily


def queue_lengths():
    """Replace with the real source, e.g. {q: redis.llen(q) for q in QUEUES}."""
    spool = os.environ.get('QUEUE_SPOOL')
    if spool and os.path.isdir(spool):
        return {name: len(os.listdir(os.path.join(spool, name))) for name in sorted(os.listdir(spool))}
    return {'default': 12, 'low': 0}


class QueueDepthCollector:
    def collect(self):
        depth = GaugeMetricFamily('myapp_queue_depth', 'Messages waiting in the broker, by queue.', labels=['queue'])
        for queue, length in queue_lengths().items():
            depth.add_metric([queue], length)
        yield depth


def write_once(directory, registry):
    write_to_textfile(os.path.join(directory, 'myapp-queues.prom'), registry)


def run(directory, interval, once=False):
    registry = CollectorRegistry()
    registry.register(QueueDepthCollector())
    while True:
        try:
            write_once(directory, registry)
        except Exception as error:  # a broker hiccup must not end the loop; the file just ages
            print(f'queue_depth: {error}', file=sys.stderr)
        if once:
            return
        time.sleep(interval)


def start_in_background(directory, interval=15):
    thread = threading.Thread(target=run, args=(directory, interval), name='queue-depth', daemon=True)
    thread.start()
    return thread


if __name__ == '__main__':
    run(os.environ.get('TEXTFILE_DIR', '/run/myapp-textfiles'), 15, once='--once' in sys.argv)
