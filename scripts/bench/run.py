#!/usr/bin/env python3
"""Benchmarks of multiproc-exporter against prometheus_client's own collector (`make bench`).

Every ratio compares the two on the same directory in the same run. Directories come from the
shared generator (../shared/tools/gen-perf-dir.py), the Python baseline from
../shared/tools/python-scrape.py (override with SHARED_TOOLS=DIR).

usage: scripts/bench/run.py --binary .build/release/multiproc-exporter [--sizes s,m,l] [--work .bench]

Writes .bench/results.json, .bench/results.md (tables for BENCHMARKS.md) and
.bench/scrape-time.png. Needs: python3 with prometheus-client==0.26.0 and matplotlib,
hyperfine, wrk, nginx (Debian packages).
"""
import argparse
import http.client
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "scripts", "lib"))
import testkit  # noqa: E402

SHARED = os.environ.get("SHARED_TOOLS", os.path.join(ROOT, "..", "shared", "tools"))
SIZES = {
    "s": ["--pids", "16", "--routes", "20", "--live", "4"],
    "m": ["--pids", "200", "--routes", "50", "--live", "16"],
    "l": ["--pids", "1000", "--routes", "50", "--live", "32"],
}
PROMETHEUS_ACCEPT = ("application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,"
                     "application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;"
                     "escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2")


def log(*args):
    print(*args, file=sys.stderr, flush=True)


free_port = testkit.free_port


def cpu_seconds(pid):
    """User + system CPU time of `pid` so far (the exporter's, all threads): unlike wall time,
    it does not grow with the load of other processes on the machine."""
    fields = open(f'/proc/{pid}/stat').read().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')


def generate(size, work):
    directory = os.path.join(work, f"perf_{size}")
    stamp = os.path.join(work, f"perf_{size}.json")
    if os.path.exists(stamp) and os.path.isdir(directory):
        return directory, json.load(open(stamp))
    log(f"generating perf_{size} ...")
    out = subprocess.run([sys.executable, os.path.join(SHARED, "gen-perf-dir.py"), directory] + SIZES[size],
                         check=True, capture_output=True, text=True).stdout
    info = json.loads(out.strip().splitlines()[-1])
    json.dump(info, open(stamp, "w"))
    return directory, info


def fresh_copy(directory, work, name):
    target = os.path.join(work, name)
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(directory, target)
    return target


def python_scrape(directory, runs):
    out = subprocess.run([sys.executable, os.path.join(SHARED, "python-scrape.py"), directory, str(runs)],
                         check=True, capture_output=True, text=True).stdout
    return float(re.search(r"median ([0-9.]+)s", out).group(1))


def python_scrape_gzip(directory, runs):
    """Python's server path with gzip: generate_latest then gzip.compress (level 9)."""
    code = (
        "import sys, time, gzip, statistics\n"
        "from prometheus_client import CollectorRegistry, multiprocess\n"
        "from prometheus_client.exposition import choose_encoder\n"
        "ts = []\n"
        "for _ in range(int(sys.argv[2])):\n"
        "    t = time.perf_counter()\n"
        "    r = CollectorRegistry(support_collectors_without_names=True)\n"
        "    multiprocess.MultiProcessCollector(r, path=sys.argv[1])\n"
        "    enc, _ = choose_encoder(sys.argv[3])\n"
        "    body = gzip.compress(enc(r))\n"
        "    ts.append(time.perf_counter() - t)\n"
        "print(statistics.median(ts), len(body))\n")
    out = subprocess.run([sys.executable, "-c", code, directory, str(runs), PROMETHEUS_ACCEPT],
                         check=True, capture_output=True, text=True).stdout.split()
    return float(out[0]), int(out[1])


def cold_dump(binary, directory, runs):
    with tempfile.NamedTemporaryFile(suffix=".json") as result:
        subprocess.run(["hyperfine", "-N", "--warmup", "2", "--runs", str(runs), "--export-json", result.name,
                        "--output", "null", f"{binary} dump --multiproc-dir {directory}"],
                       check=True, capture_output=True)
        data = json.load(open(result.name))["results"][0]
        return data["median"], data["mean"]


def profile_cold(binary, directory):
    out = subprocess.run([binary, "profile", "--multiproc-dir", directory, "--iterations", "1"],
                         check=True, capture_output=True, text=True).stdout
    return float(re.search(r"cold_seconds ([0-9.e-]+)", out).group(1))


class Exporter:
    def __init__(self, binary, directory, *extra):
        self.port = free_port()
        self.proc = subprocess.Popen([binary, "serve", "--multiproc-dir", directory,
                                      "--web.listen-address", f"127.0.0.1:{self.port}", "--log.level", "warn", *extra],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                self.get("/healthz")
                break
            except OSError:
                time.sleep(0.05)
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)

    def get(self, path, headers=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        body = response.read()
        conn.close()
        return response.status, body

    def scrape(self, headers=None):
        t = time.perf_counter()
        self.conn.request("GET", "/metrics", headers=headers or {})
        response = self.conn.getresponse()
        body = response.read()
        elapsed = time.perf_counter() - t
        assert response.status == 200, response.status
        return elapsed, body

    def median_scrape(self, n, headers=None, between=None):
        times = []
        body = b""
        for _ in range(n):
            if between:
                between()
            elapsed, body = self.scrape(headers)
            times.append(elapsed)
        return statistics.median(times), len(body)

    def mark_dead(self, pid):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        conn.request("POST", f"/mark-dead/{pid}")
        response = conn.getresponse()
        response.read()
        conn.close()
        assert response.status == 200, response.status

    def memory(self):
        status = open(f"/proc/{self.proc.pid}/status").read()
        return {k: int(re.search(rf"{k}:\s+(\d+) kB", status).group(1)) * 1024
                for k in ("VmRSS", "VmHWM", "RssAnon", "RssFile", "RssShmem")}

    def stop(self):
        self.conn.close()
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=20)


def live_pids(info_args):
    pids = int(info_args[info_args.index("--pids") + 1])
    live = int(info_args[info_args.index("--live") + 1])
    return list(range(10000, 10000 + pids - live)), list(range(10000 + pids - live, 10000 + pids))


def touch_value(path, value_offset_cache={}):
    """Changes one value in place, as a worker's inc() does (8-byte store at a known offset)."""
    import mmap
    import struct
    with open(path, "r+b") as f:
        m = mmap.mmap(f.fileno(), 0)
        if path not in value_offset_cache:
            n = struct.unpack_from("i", m, 8)[0]
            value_offset_cache[path] = 8 + 4 + n + (8 - (n + 4) % 8)
        offset = value_offset_cache[path]
        value = struct.unpack_from("d", m, offset)[0]
        m[offset:offset + 8] = struct.pack("d", value + 1)
        m.close()


def append_entry(path, counter=[0]):
    """Appends a new series to a live file, as a worker's first use of a label set does."""
    from prometheus_client.mmap_dict import MmapedDict, mmap_key
    counter[0] += 1
    d = MmapedDict(path)
    d.write_value(mmap_key("http_requests", "http_requests_total", ["method", "route", "status"],
                           ["GET", f"/new/{counter[0]}", "200"], "Requests."), 1.0, 0.0)
    d.close()


def wrk(port, seconds, connections, path="/metrics"):
    out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", f"http://127.0.0.1:{port}{path}"],
                         check=True, capture_output=True, text=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([0-9.]+)", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return rps, int(non2xx.group(1)) if non2xx else 0


def nginx_static(body, seconds, connections, work):
    root = tempfile.mkdtemp(dir=work)
    # nginx's workers run as an unprivileged user: they must be able to read the file.
    os.chmod(root, 0o755)
    open(os.path.join(root, "metrics"), "wb").write(body)
    os.chmod(os.path.join(root, "metrics"), 0o644)
    port = free_port()
    conf = os.path.join(root, "nginx.conf")
    open(conf, "w").write(f"""
worker_processes 1;
daemon off;
pid {root}/nginx.pid;
error_log {root}/error.log;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  default_type text/plain;
  sendfile on;
  server {{ listen 127.0.0.1:{port}; root {root}; }}
}}
""")
    proc = subprocess.Popen(["nginx", "-c", conf, "-p", root], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/metrics")
        response = conn.getresponse()
        served = response.read()
        assert response.status == 200 and served == body, f"nginx served {response.status}, {len(served)} bytes"
        return wrk(port, seconds, connections)
    finally:
        proc.terminate()
        proc.wait()


def bench_size(size, binary, work, quick):
    directory, info = generate(size, work)
    runs = 1 if size == "l" else 3
    r = {"size": size, "args": " ".join(SIZES[size]), **info}
    log(f"[{size}] python scrape")
    r["python_s"] = python_scrape(directory, runs)
    log(f"[{size}] cold dump")
    r["cold_median_s"], r["cold_mean_s"] = cold_dump(binary, directory, 3 if size == "l" else 10)
    r["cold_inprocess_s"] = profile_cold(binary, directory)

    copy = fresh_copy(directory, work, f"serve_{size}")
    exporter = Exporter(binary, copy)
    try:
        exporter.scrape()  # first, cold scrape
        n = 50 if quick else 200
        log(f"[{size}] warm")
        r["warm_median_s"], r["body_bytes"] = exporter.median_scrape(n)
        mem = []
        for i in range(1, 101):
            exporter.scrape()
            if i in (10, 100):
                mem.append(exporter.memory())
        r["memory_scrape10"], r["memory_scrape100"] = mem
        log(f"[{size}] gzip")
        gz_headers = {"Accept": PROMETHEUS_ACCEPT, "Accept-Encoding": "gzip"}
        r["warm_gzip_median_s"], r["gzip_bytes"] = exporter.median_scrape(n, gz_headers)
        r["python_gzip_s"], r["python_gzip_bytes"] = python_scrape_gzip(directory, runs)
        dead, live = live_pids(SIZES[size])
        log(f"[{size}] one live file changed between scrapes")
        live_file = os.path.join(copy, f"counter_{live[-1]}.db")
        r["changed_values_median_s"], _ = exporter.median_scrape(n, between=lambda: touch_value(live_file))
        r["changed_append_median_s"], _ = exporter.median_scrape(n // 2, between=lambda: append_entry(live_file))
        log(f"[{size}] mark {len(dead)} pids dead")
        for pid in dead:
            exporter.mark_dead(pid)
        exporter.scrape()  # reads the dead pids' files a last time, then folds them
        r["warm_after_mark_dead_median_s"], _ = exporter.median_scrape(n)
        r["dead_pids"], r["live_pids"] = len(dead), len(live)
        r["memory_after_mark_dead"] = exporter.memory()
    finally:
        exporter.stop()
    shutil.rmtree(copy, ignore_errors=True)
    return r


def bench_throughput(binary, directory, work, seconds):
    log("[throughput] wrk")
    t = {"connections": 16, "seconds": seconds}
    copy = fresh_copy(directory, work, "serve_throughput")
    exporter = Exporter(binary, copy)
    try:
        _, body = exporter.scrape()
        t["fresh_rps"], t["fresh_non2xx"] = wrk(exporter.port, seconds, t["connections"])
    finally:
        exporter.stop()
    exporter = Exporter(binary, copy, "--scrape.min-interval", "1s")
    try:
        exporter.scrape()
        t["min_interval_rps"], t["min_interval_non2xx"] = wrk(exporter.port, seconds, t["connections"])
    finally:
        exporter.stop()
    t["nginx_rps"], t["nginx_non2xx"] = nginx_static(body, seconds, t["connections"], work)
    shutil.rmtree(copy, ignore_errors=True)
    return t


def plot(results, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    files = [r["files"] for r in results]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.plot(files, [r["python_s"] for r in results], "o-", label="prometheus_client (Python)")
    ax.plot(files, [r["cold_median_s"] for r in results], "s-", label="cold: one dump process")
    ax.plot(files, [r["warm_median_s"] for r in results], "^-", label="warm: /metrics of a running exporter")
    ax.plot(files, [r["warm_after_mark_dead_median_s"] for r in results], "v--",
            label="warm, dead pids marked (folded)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("files in the directory")
    ax.set_ylabel("scrape time (s)")
    ax.set_title("Scrape time vs directory size (perf_s, perf_m, perf_l)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def markdown(results, throughput):
    def ms(x):
        return f"{x * 1000:.2f} ms"

    def mb(x):
        return f"{x / 1e6:.1f} MB"

    lines = ["| dir | files | entries | Python | cold `dump` | ratio | warm `/metrics` | ratio | warm, dead folded | ratio |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| perf_{r['size']} | {r['files']} | {r['entries']} | {ms(r['python_s'])} | {ms(r['cold_median_s'])} | "
                     f"{r['python_s'] / r['cold_median_s']:.0f}× | {ms(r['warm_median_s'])} | {r['python_s'] / r['warm_median_s']:.0f}× | "
                     f"{ms(r['warm_after_mark_dead_median_s'])} ({r['dead_pids']} of {r['dead_pids'] + r['live_pids']} pids dead) | "
                     f"{r['python_s'] / r['warm_after_mark_dead_median_s']:.0f}× |")
    lines += ["", "| dir | full re-read (in-process cold) | one live file: values changed | ratio | one live file: entry appended | ratio |",
              "|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| perf_{r['size']} | {ms(r['cold_inprocess_s'])} | {ms(r['changed_values_median_s'])} | "
                     f"1/{r['cold_inprocess_s'] / r['changed_values_median_s']:.0f} | {ms(r['changed_append_median_s'])} | "
                     f"1/{r['cold_inprocess_s'] / r['changed_append_median_s']:.0f} |")
    lines += ["", "| dir | Python + gzip -9 | bytes | exporter, gzip -1 | bytes | ratio |", "|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| perf_{r['size']} | {ms(r['python_gzip_s'])} | {r['python_gzip_bytes']} | {ms(r['warm_gzip_median_s'])} | "
                     f"{r['gzip_bytes']} | {r['python_gzip_s'] / r['warm_gzip_median_s']:.0f}× |")
    lines += ["", "| dir | RSS @10 | RSS @100 | HWM @100 | anon @10 | anon @100 | file+shmem @100 | anon after mark-dead |",
              "|---|---|---|---|---|---|---|---|"]
    for r in results:
        a, b = r["memory_scrape10"], r["memory_scrape100"]
        lines.append(f"| perf_{r['size']} | {mb(a['VmRSS'])} | {mb(b['VmRSS'])} | {mb(b['VmHWM'])} | {mb(a['RssAnon'])} | "
                     f"{mb(b['RssAnon'])} | {mb(b['RssFile'] + b['RssShmem'])} | {mb(r['memory_after_mark_dead']['RssAnon'])} |")
    if throughput:
        t = throughput
        lines += ["", f"wrk, 1 thread, {t['connections']} connections, {t['seconds']} s, perf_m body:", "",
                  "| server | req/s | non-2xx | vs nginx |", "|---|---|---|---|",
                  f"| exporter, fresh snapshot per request (coalesced) | {t['fresh_rps']:.0f} | {t['fresh_non2xx']} | {t['fresh_rps'] / t['nginx_rps']:.2f}× |",
                  f"| exporter, `--scrape.min-interval 1s` | {t['min_interval_rps']:.0f} | {t['min_interval_non2xx']} | {t['min_interval_rps'] / t['nginx_rps']:.2f}× |",
                  f"| nginx 1 worker, same body as a static file | {t['nginx_rps']:.0f} | {t['nginx_non2xx']} | 1.00× |"]
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default=os.path.join(ROOT, ".build/release/multiproc-exporter"))
    ap.add_argument("--sizes", default="s,m,l")
    ap.add_argument("--work", default=os.path.join(ROOT, ".bench"))
    ap.add_argument("--quick", action="store_true", help="fewer iterations (smoke run)")
    ap.add_argument("--wrk-seconds", type=int, default=15)
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    for tool in ("hyperfine", "wrk", "nginx"):
        if not shutil.which(tool):
            sys.exit(f"bench needs {tool}: sudo apt-get install -y hyperfine wrk nginx-light")
    results = [bench_size(size, a.binary, a.work, a.quick) for size in a.sizes.split(",")]
    throughput = None
    if "m" in a.sizes.split(","):
        throughput = bench_throughput(a.binary, generate("m", a.work)[0], a.work, 5 if a.quick else a.wrk_seconds)
    machine = subprocess.run(["sh", "-c", "nproc; grep -m1 'model name' /proc/cpuinfo; free -g | sed -n 2p; uname -r"],
                             capture_output=True, text=True).stdout
    json.dump({"machine": machine, "results": results, "throughput": throughput},
              open(os.path.join(a.work, "results.json"), "w"), indent=1)
    table = markdown(results, throughput)
    open(os.path.join(a.work, "results.md"), "w").write(table)
    if len(results) > 1:
        plot(results, os.path.join(a.work, "scrape-time.png"))
    print(machine)
    print(table)


if __name__ == "__main__":
    main()
