#!/usr/bin/env python3
"""Helpers of scripts/reliability/load.sh (each runs for a bounded time and stops by itself).

  load_helpers.py writers DIR PORT SECONDS   real prometheus_client workers, recycled and marked dead
  load_helpers.py poll PORT SECONDS          scrape every 100 ms; every counter series must never decrease
  load_helpers.py rss PID SECONDS            VmRSS and RssAnon every second; start/end/max summary
"""
import json
import os
import random
import re
import sys
import time
import urllib.request


def writers(directory, port, seconds, workers=4):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
    deadline = time.monotonic() + seconds
    live = {}
    generations = marked = removed = 0

    def spawn():
        nonlocal generations
        lifetime = random.uniform(2.0, 6.0)
        pid = os.fork()
        if pid == 0:
            work(lifetime)
            os._exit(0)
        live[pid] = True
        generations += 1

    for _ in range(workers):
        spawn()
    while time.monotonic() < deadline:
        pid, _ = os.waitpid(-1, 0)
        if pid in live:
            del live[pid]
            # What gunicorn's child_exit hook does: tell the exporter the worker is gone.
            request = urllib.request.Request(f"http://127.0.0.1:{port}/mark-dead/{pid}", method="POST")
            with urllib.request.urlopen(request, timeout=5) as r:
                assert r.status == 200, r.status
                removed += len(json.load(r)["removed"])
            marked += 1
            if time.monotonic() < deadline:
                spawn()
    for pid in list(live):
        os.waitpid(pid, 0)
    print(f"writers: generations={generations} marked_dead={marked} live_gauge_files_removed={removed}")


def work(lifetime):
    """One worker: counters incremented continuously, a histogram, live and all-mode gauges."""
    from prometheus_client import Counter, Gauge, Histogram
    requests = Counter("load_requests", "Requests handled.", ["route", "code"])
    jobs = Counter("load_jobs", "Jobs done.")
    latency = Histogram("load_latency_seconds", "Latency.", ["route"], buckets=[0.01, 0.1, 1])
    inflight = Gauge("load_inflight", "In flight.", multiprocess_mode="livesum")
    memory = Gauge("load_memory_bytes", "Memory.", multiprocess_mode="all")
    end = time.monotonic() + lifetime
    i = 0
    while time.monotonic() < end:
        route = f"/r{i % 50}"
        requests.labels(route, "200" if i % 10 else "500").inc()
        jobs.inc(2)
        latency.labels(route).observe(random.random() / 5)
        inflight.set(i % 7)
        memory.set(i)
        i += 1
        if i % 200 == 0:
            time.sleep(0.001)


SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{.*\})?) (\S+)$')


def poll(port, seconds):
    """Counters (and histogram _count/_bucket, integer sums) must never go down."""
    deadline = time.monotonic() + seconds
    last = {}
    scrapes = violations = errors = 0
    counter_families = set()
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
                body = r.read().decode()
                if r.status != 200:
                    errors += 1
                    continue
        except Exception as e:  # noqa: BLE001 - every failure counts
            errors += 1
            print(f"poll: scrape failed: {e}", file=sys.stderr)
            continue
        scrapes += 1
        current = {}
        for line in body.split("\n"):
            if line.startswith("# TYPE "):
                _, _, name, kind = line.split(" ", 3)
                if kind in ("counter", "histogram"):
                    counter_families.add(name)
                continue
            m = SAMPLE.match(line)
            if not m:
                continue
            series, value = m.group(1), float(m.group(2))
            name = series.split("{")[0]
            if name.startswith(("multiproc_exporter_", "process_", "multiproc_worker", "multiproc_parent")):
                continue
            base = re.sub(r"(_total|_count|_bucket)$", "", name)
            if base in counter_families and not name.endswith("_sum"):
                current[series] = value
        for series, value in last.items():
            if series not in current:
                violations += 1
                print(f"poll: counter series disappeared: {series}", file=sys.stderr)
            elif current[series] < value:
                violations += 1
                print(f"poll: counter went down: {series} {value} -> {current[series]}", file=sys.stderr)
        last = current
        time.sleep(0.1)
    print(f"poll: scrapes={scrapes} counter_series={len(last)} violations={violations} errors={errors}")
    return 1 if violations or errors or scrapes == 0 else 0


def rss(pid, seconds):
    def read():
        fields = {}
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                key, _, rest = line.partition(":")
                if key in ("VmRSS", "RssAnon"):
                    fields[key] = int(rest.split()[0])
        return fields
    samples = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            samples.append(read())
        except FileNotFoundError:
            print("rss: exporter is gone", file=sys.stderr)
            return 1
        time.sleep(1)
    for key in ("VmRSS", "RssAnon"):
        values = [s[key] for s in samples]
        warm = values[min(len(values) - 1, 10)]  # after 10 s of load
        print(f"rss: {key}_kib start={values[0]} after_10s={warm} end={values[-1]} max={max(values)} samples={len(values)}")
    anon = [s["RssAnon"] for s in samples]
    warm = anon[min(len(anon) - 1, 10)]
    growth = anon[-1] - warm
    flat = growth <= max(8192, warm // 5)
    print(f"rss: RssAnon growth after warm-up {growth} KiB: {'flat' if flat else 'GROWING'}")
    return 0 if flat else 1


if __name__ == "__main__":
    command = sys.argv[1]
    if command == "writers":
        writers(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))
    elif command == "poll":
        sys.exit(poll(int(sys.argv[2]), float(sys.argv[3])))
    elif command == "rss":
        sys.exit(rss(int(sys.argv[2]), float(sys.argv[3])))
    else:
        sys.exit(__doc__)
