"""What the test, benchmark and golden scripts share.

Imports only the standard library at load time: `scripts/clients/writer.py` runs it under old
prometheus_client releases in their own virtualenvs, so the client is imported inside the
functions that need it, and only what every release since 0.4 has.

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
    import testkit
"""
import argparse
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request


class Failure(Exception):
    """A check that failed; `run_checks` (or `run_scenarios`) prints it and exits 1."""


def check(condition, message):
    if not condition:
        raise Failure(message)


def run_checks(prefix, body):
    """Runs `body(work)` in a fresh temporary directory `<prefix>XXXX`, removed afterwards. On a
    `Failure` prints it, keeps the directory for a look and exits 1."""
    work = tempfile.mkdtemp(prefix=prefix)
    try:
        body(work)
    except Failure as failure:
        print(f'FAIL: {failure}', file=sys.stderr)
        print(f'(work directory kept: {work})', file=sys.stderr)
        sys.exit(1)
    shutil.rmtree(work)


def free_port(host='127.0.0.1'):
    """A TCP port free on `host` now (for servers that cannot be told port 0, e.g. Prometheus)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def python_exposition(directory, accept=None):
    """(content type, body bytes) exactly as prometheus_client's MultiProcessCollector over
    `directory` serves it for `accept` (None: the release's default, `generate_latest`)."""
    from prometheus_client import CollectorRegistry
    from prometheus_client.multiprocess import MultiProcessCollector
    try:
        registry = CollectorRegistry(support_collectors_without_names=True)
    except TypeError:  # releases before 0.20
        registry = CollectorRegistry()
    MultiProcessCollector(registry, path=directory)
    if accept is None:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
        return CONTENT_TYPE_LATEST, generate_latest(registry)
    from prometheus_client.exposition import choose_encoder
    encoder, content_type = choose_encoder(accept)
    return content_type, encoder(registry)


# What the exporter serves beyond the merged directory: its own metrics, and the app's process
# metrics from /proc (multiproc_worker_*, multiproc_workers*, multiproc_parent_*, multiproc_parents*).
OWN_PREFIXES = ('multiproc_exporter_', 'process_', 'multiproc_worker', 'multiproc_parent')


def samples(text, own=None):
    """{(sample name, sorted label pairs): value} of a text exposition. `own` True keeps only
    what the exporter adds (OWN_PREFIXES: its own families, the app's process metrics), False only the others, None
    everything."""
    from prometheus_client.parser import text_string_to_metric_families
    out = {}
    for family in text_string_to_metric_families(text):
        if own is not None and family.name.startswith(OWN_PREFIXES) != own:
            continue
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def python_samples(directory):
    """`samples` of what prometheus_client serves for `directory`."""
    return samples(python_exposition(directory)[1].decode())


def read_entries(data, value_bytes=16):
    """[(key bytes, value bytes, offset of the value)] of the well-formed multiprocess file
    content `data` (bytes), whose entries carry `value_bytes` of value (16 since 0.18: value
    and timestamp; 8 before). Raises on anything malformed: for files the scripts wrote."""
    used = struct.unpack_from('<i', data, 0)[0]
    entries, pos = [], 8
    while pos < used:
        n = struct.unpack_from('<i', data, pos)[0]
        if n <= 0 or pos + 4 + n > used:
            raise ValueError(f'entry at {pos}: key length {n} does not fit in used {used}')
        key = data[pos + 4:pos + 4 + n]
        value_pos = pos + 4 + n + (8 - (n + 4) % 8)
        entries.append((key, data[value_pos:value_pos + value_bytes], value_pos))
        pos = value_pos + value_bytes
    return entries


def write_db(path, entries):
    """Writes a multiprocess file of today's layout (0.18+): `entries` are (key text, value,
    timestamp); 64 KiB doubled until it fits, zeros after `used`, as MmapedDict leaves it."""
    body = bytearray()
    for key, value, timestamp in entries:
        k = key.encode('utf-8')
        body += struct.pack('<i', len(k)) + k + b' ' * (8 - (len(k) + 4) % 8) + struct.pack('<dd', value, timestamp)
    used = 8 + len(body)
    size = 1 << 16
    while size < used:
        size *= 2
    with open(path, 'wb') as f:
        f.write(struct.pack('<i', used) + b'\0' * 4 + bytes(body))
        f.truncate(size)


def app_directory(directory, pids, routes, live, first_pid=20000):
    """A directory shaped like a recycled gunicorn app's (what ../shared/tools/gen-perf-dir.py
    writes, smaller and self-contained for `make test`): per pid a counter of requests by
    method/route/status, a 15-bucket latency histogram by method/route and an `all` gauge; the
    last `live` pids also have a `livesum` gauge file (live workers), the others are dead.
    Keys are encoded by prometheus_client's own `mmap_key`. Returns the dead pids."""
    from prometheus_client.mmap_dict import mmap_key
    buckets = ['0.005', '0.01', '0.025', '0.05', '0.075', '0.1', '0.25', '0.5', '0.75', '1.0', '2.5', '5.0', '7.5', '10.0', '+Inf']
    counter_keys, bucket_keys, sum_keys = [], [], []
    for r in range(routes):
        route = f'/api/v1/resource_{r}/items'
        for method in ('GET', 'POST', 'PUT'):
            for status in ('200', '404', '500'):
                counter_keys.append(mmap_key('http_requests_total', 'http_requests_total', ['method', 'route', 'status'],
                                             [method, route, status], 'Requests.'))
            for le in buckets:
                bucket_keys.append(mmap_key('http_request_duration_seconds', 'http_request_duration_seconds_bucket',
                                            ['le', 'method', 'route'], [le, method, route], 'Latency.'))
            sum_keys.append(mmap_key('http_request_duration_seconds', 'http_request_duration_seconds_sum', ['method', 'route'],
                                     [method, route], 'Latency.'))
    in_flight = mmap_key('in_flight', 'in_flight', [], [], 'In flight.')
    dead = []
    for i in range(pids):
        pid = first_pid + i
        write_db(os.path.join(directory, f'counter_{pid}.db'), [(k, float((pid + j) % 7), 0.0) for j, k in enumerate(counter_keys)])
        write_db(os.path.join(directory, f'histogram_{pid}.db'),
                 [(k, 1.0, 0.0) for k in bucket_keys] + [(k, 0.125 * (pid % 5), 0.0) for k in sum_keys])
        write_db(os.path.join(directory, f'gauge_all_{pid}.db'),
                 [(mmap_key('worker_start_time', 'worker_start_time', [], [], 'Start.'), 1.7e9 + pid, 0.0)])
        if i >= pids - live:
            write_db(os.path.join(directory, f'gauge_livesum_{pid}.db'), [(in_flight, 1.0, 0.0)])
        else:
            dead.append(pid)
    return dead


# MARK: end-to-end scenarios next to a running serve (scripts/auto_mark_dead/e2e.py, scripts/workers/e2e.py)

class ServeProcess:
    """`multiproc-exporter serve` on 127.0.0.1:0 (the port it logs), in a session of its own,
    its debug log in WORK/exporter.log; `wrap` runs it under another command (unshare, setpriv)."""

    def __init__(self, binary, directory, work, args=(), wrap=()):
        self.log_path = os.path.join(work, 'exporter.log')
        self.proc = subprocess.Popen([*wrap, binary, 'serve', '--multiproc-dir', directory, '--web.listen-address', '127.0.0.1:0',
                                      '--log.level', 'debug', *args],
                                     stderr=open(self.log_path, 'w'), start_new_session=True)
        deadline = time.time() + 20
        while time.time() < deadline:
            match = re.search(r'msg=listening address=([0-9.]+:\d+)', self.log())
            if match:
                self.url = f'http://{match.group(1)}/metrics'
                return
            if self.proc.poll() is not None:
                raise Failure(f'exporter exited: {self.log()}')
            time.sleep(0.05)
        raise Failure('exporter did not listen')

    def log(self):
        with open(self.log_path) as f:
            return f.read()

    def scrape(self):
        """The body of GET /metrics."""
        with urllib.request.urlopen(self.url, timeout=10) as r:
            return r.read().decode()

    def samples(self):
        """`samples` of a scrape."""
        return samples(self.scrape())

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)


def wait_until(what, predicate, deadline):
    """Calls `predicate` (returning (ok, detail)) every 20 ms until ok; its last detail. Raises
    Failure with the detail after `deadline` seconds."""
    start = time.time()
    while True:
        ok, last = predicate()
        if ok:
            return last
        if time.time() - start > deadline:
            raise Failure(f'{what}: not within {deadline:.1f}s: {last}')
        time.sleep(0.02)


def stop_group(proc):
    """SIGTERM to a process started with start_new_session, and all it started; SIGKILL after 10 s."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def run_scenarios(title, description, scenarios, needs_root, default_binary):
    """The main of an end-to-end script: `--binary`, `--only a,b`; each scenario(binary, work)
    returns a summary or raises Failure (its work folder is then kept); exits 1 if one failed."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument('--binary', default=default_binary)
    parser.add_argument('--only', default=','.join(scenarios))
    args = parser.parse_args()
    binary = os.path.abspath(args.binary)
    failed = False
    started = time.time()
    for name in args.only.split(','):
        if name in needs_root and os.geteuid() != 0:
            print(f'SKIPPED {name}: needs root')
            continue
        work = tempfile.mkdtemp(prefix=f'{title.replace(" ", "-")}-{name}-')
        t = time.time()
        try:
            summary = scenarios[name](binary, work)
            print(f'ok   {name} ({time.time() - t:.1f}s): {summary}')
            shutil.rmtree(work, ignore_errors=True)
        except Failure as error:
            failed = True
            print(f'FAIL {name} ({time.time() - t:.1f}s): {error}\n     logs kept in {work}')
    print(f'{"FAIL" if failed else "PASS"}: {title} end to end in {time.time() - started:.1f}s')
    sys.exit(1 if failed else 0)
