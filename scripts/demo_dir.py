#!/usr/bin/env python3
"""Write a small multiprocess directory with the real prometheus_client, for `make run`.

usage: demo_dir.py DIR

Forks three "workers" that count requests, observe latencies, track in-flight requests and
a max gauge, as a gunicorn app would; one of them exits and is marked dead, the way
gunicorn's child_exit hook does it.
"""
import os
import shutil
import sys


def worker(index):
    from prometheus_client import Counter, Gauge, Histogram

    requests = Counter("demo_requests", "Requests handled.", ["route", "status"])
    latency = Histogram("demo_request_duration_seconds", "Request latency.", ["route"])
    in_flight = Gauge("demo_in_flight_requests", "Requests in progress.", multiprocess_mode="livesum")
    peak = Gauge("demo_worker_peak_rss_bytes", "Largest RSS seen by any worker.", multiprocess_mode="max")
    for i in range(20 + 10 * index):
        route = ["/", "/api/items", "/healthz"][i % 3]
        requests.labels(route=route, status="200" if i % 7 else "500").inc()
        latency.labels(route=route).observe(0.003 * (i % 11))
    in_flight.inc(index)
    peak.set(50_000_000 + index * 1_000_000)


def main():
    directory = sys.argv[1]
    shutil.rmtree(directory, ignore_errors=True)
    os.makedirs(directory)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
    pids = []
    for index in range(3):
        pid = os.fork()
        if pid == 0:
            try:
                worker(index)
            finally:
                os._exit(0)
        pids.append(pid)
    for pid in pids:
        os.waitpid(pid, 0)
    from prometheus_client import multiprocess
    multiprocess.mark_process_dead(pids[0], directory)
    print(f"demo directory {directory}: {len(os.listdir(directory))} files from pids {pids} ({pids[0]} marked dead)")


if __name__ == "__main__":
    main()
