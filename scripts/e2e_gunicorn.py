#!/usr/bin/env python3
"""The Python half of scripts/e2e-gunicorn.sh: load generation and the checks on what the
exporter serves.

  e2e_gunicorn.py load APP_URL N EXPECTED.json   N requests, one connection each, spread over
                                                 the routes and statuses of examples/gunicorn/app.py
  e2e_gunicorn.py counts EXPORTER_URL EXPECTED.json LIVE_WORKERS
  e2e_gunicorn.py compare EXPORTER_URL DIR       exporter == Python's MultiProcessCollector
  e2e_gunicorn.py value EXPORTER_URL SAMPLE [LABEL=VALUE...]   one sample's value (or nothing)
  e2e_gunicorn.py watch EXPORTER_URL STOP_FILE OUT.json
                                                 scrapes every 50 ms until STOP_FILE exists; records
                                                 every counter, histogram or summary series that went down
  e2e_gunicorn.py watched OUT.json MIN_SCRAPES   fails unless the watch saw no decrease in MIN_SCRAPES or more
"""
import concurrent.futures
import difflib
import gzip
import http.client
import json
import os
import random
import sys
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), 'golden'))
import record  # noqa: E402  (scrape, ACCEPT_HEADERS, normalize_body, render_normalized)
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), 'lib'))
import testkit  # noqa: E402  (OWN_PREFIXES)

# (method, path, route label, expected status, body size range)
REQUESTS = [
    ('GET', '/', '/', 200, None),
    ('GET', '/items', '/items', 200, None),
    ('POST', '/items', '/items', 201, (1, 4096)),
    ('GET', '/error', '/error', 500, None),
    ('GET', '/no/such/page', 'other', 404, None),
]
# What the exporter adds, which Python's collector does not have (escaping=dots doubles the
# underscores of every name).
OWN_FAMILIES = tuple(b'# HELP ' + prefix.encode() for name in testkit.OWN_PREFIXES
                     for prefix in (name, name.replace('_', '__')))


def fail(message):
    print(f'FAIL: {message}', file=sys.stderr)
    sys.exit(1)


def load(app_url, n, expected_path):
    """Sends n requests on fresh connections (Connection: close), four at a time, so that they
    spread over the workers; writes the counts the exporter must show."""
    rng = random.Random(5)
    plan = []
    for _ in range(int(n)):
        method, path, route, status, sizes = rng.choice(REQUESTS)
        plan.append((method, path, route, status, rng.randint(*sizes) if sizes else 0))
    parsed = urllib.parse.urlsplit(app_url)

    def send(item):
        method, path, route, status, size = item
        conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=10)
        try:
            conn.request(method, path, body=b'x' * size if size else None, headers={'Connection': 'close'})
            response = conn.getresponse()
            response.read()
            if response.status != status:
                raise AssertionError(f'{method} {path}: status {response.status}, want {status}')
        finally:
            conn.close()
        return f'{method} {route} {status}'

    counts = {}
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        for key in pool.map(send, plan):
            counts[key] = counts.get(key, 0) + 1
    peak = max(item[4] for item in plan)
    with open(expected_path, 'w') as f:
        json.dump({'requests': counts, 'total': len(plan), 'peak_body': peak}, f, indent=1, sort_keys=True)
    print(f'    sent {len(plan)} requests: ' + ', '.join(f'{k}={v}' for k, v in sorted(counts.items())))


def scrape(exporter_url, accept=None, gzipped=False):
    """(content type, body) of GET /metrics."""
    request = urllib.request.Request(exporter_url + '/metrics')
    if accept is not None:
        request.add_header('Accept', accept)
    if gzipped:
        request.add_header('Accept-Encoding', 'gzip')
    with urllib.request.urlopen(request, timeout=10) as response:
        body = response.read()
        if gzipped:
            if response.headers.get('Content-Encoding') != 'gzip':
                fail('Accept-Encoding: gzip was not answered with gzip')
            body = gzip.decompress(body)
        return response.headers.get('Content-Type'), body


def samples(exporter_url):
    """{(sample name, frozenset(labels)): value} of the default text format."""
    from prometheus_client.parser import text_string_to_metric_families
    _, body = scrape(exporter_url)
    result = {}
    for family in text_string_to_metric_families(body.decode('utf-8')):
        for s in family.samples:
            result[(s.name, frozenset(s.labels.items()))] = s.value
    return result


def value(exporter_url, name, *labels):
    wanted = frozenset(tuple(label.split('=', 1)) for label in labels)
    found = samples(exporter_url).get((name, wanted))
    print('' if found is None else repr(found))


def counts(exporter_url, expected_path, live_workers):
    expected = json.load(open(expected_path))
    got = samples(exporter_url)
    requests = {f'{dict(l)["method"]} {dict(l)["route"]} {dict(l)["status"]}': v
                for (name, l), v in got.items() if name == 'app_requests_total'}
    total = sum(requests.values())
    if total != expected['total']:
        fail(f'sum(app_requests_total) = {total}, want {expected["total"]} (requests sent)')
    print(f'    ok: sum(app_requests_total) = {total:g} = requests sent')
    if requests != {k: float(v) for k, v in expected['requests'].items()}:
        fail(f'app_requests_total by method/route/status = {requests}, want {expected["requests"]}')
    print('    ok: app_requests_total matches per method/route/status')
    observed = sum(v for (name, _), v in got.items() if name == 'app_request_duration_seconds_count')
    if observed != expected['total']:
        fail(f'sum(app_request_duration_seconds_count) = {observed}, want {expected["total"]}')
    print(f'    ok: sum(app_request_duration_seconds_count) = {observed:g}')
    peak = got.get(('app_request_body_peak_bytes', frozenset()))
    if peak != expected['peak_body']:
        fail(f'app_request_body_peak_bytes (max gauge) = {peak}, want {expected["peak_body"]}')
    print(f'    ok: app_request_body_peak_bytes (max over all workers, dead ones too) = {peak:g}')
    workers = got.get(('app_worker_processes', frozenset()))
    if workers != float(live_workers):
        fail(f'app_worker_processes (livesum) = {workers}, want {live_workers}: files of dead workers counted?')
    print(f'    ok: app_worker_processes (livesum) = {workers:g} = live workers')
    in_progress = got.get(('app_requests_in_progress', frozenset()))
    if in_progress != 0:
        fail(f'app_requests_in_progress (livesum) = {in_progress}, want 0 when idle')
    print('    ok: app_requests_in_progress (livesum) = 0 when idle')


def own_families_removed(families):
    return [f for f in families if not f[0][0].startswith(OWN_FAMILIES)]


def compare(exporter_url, directory):
    """Every Accept header of the golden suite (and gzip once): same Content-Type and, after
    dropping the exporter's own families, the same families and samples as Python's collector
    serving the same directory (order of families and of samples within one aside)."""
    cases = [(slug, accept, False) for slug, accept in record.ACCEPT_HEADERS] + [('none+gzip', None, True)]
    for slug, accept, gzipped in cases:
        want_type, want_body = record.scrape(directory, accept)
        got_type, got_body = scrape(exporter_url, accept, gzipped)
        if got_type != want_type:
            fail(f'[{slug}] Content-Type {got_type!r}, Python serves {want_type!r}')
        om = want_type.startswith('application/openmetrics-text')
        want = record.normalize_body(want_body, om)
        got = own_families_removed(record.normalize_body(got_body, om))
        if want != got:
            diff = difflib.unified_diff(record.render_normalized(want), record.render_normalized(got),
                                        'python', 'exporter', lineterm='', n=2)
            fail(f'[{slug}] Accept {accept!r}: exporter differs from MultiProcessCollector\n' + '\n'.join(diff))
    print(f'    ok: {len(cases)} scrapes (every Accept header of the golden suite, and gzip) match '
          f'MultiProcessCollector on {directory}')


def watch(exporter_url, stop_file, out_path):
    """Scrapes every 50 ms; a counter-like series (a sample of a counter, histogram or summary
    family) below its previous value is a step backwards, which Prometheus reads as a reset."""
    from prometheus_client.parser import text_string_to_metric_families
    import time
    last, drops, scrapes, errors = {}, [], 0, 0
    while not os.path.exists(stop_file):
        try:
            _, body = scrape(exporter_url)
        except OSError:
            errors += 1
            time.sleep(0.05)
            continue
        scrapes += 1
        for family in text_string_to_metric_families(body.decode('utf-8')):
            if family.type not in ('counter', 'histogram', 'summary'):
                continue
            for s in family.samples:
                if s.name.endswith('_created'):
                    continue
                key = (s.name, tuple(sorted(s.labels.items())))
                if key in last and s.value < last[key]:
                    drops.append({'series': f'{s.name}{dict(key[1])}', 'from': last[key], 'to': s.value, 'scrape': scrapes})
                last[key] = s.value
        time.sleep(0.05)
    with open(out_path, 'w') as f:
        json.dump({'scrapes': scrapes, 'errors': errors, 'series': len(last), 'drops': drops}, f)


def watched(out_path, min_scrapes):
    result = json.load(open(out_path))
    if result['drops']:
        fail(f'{len(result["drops"])} counter series went down during compaction, first: {result["drops"][0]}')
    if result['scrapes'] < int(min_scrapes):
        fail(f'only {result["scrapes"]} scrapes during the run, want at least {min_scrapes}')
    print(f'    ok: {result["scrapes"]} scrapes every 50 ms, {result["series"]} counter series, none ever went down')


if __name__ == '__main__':
    command, args = sys.argv[1], sys.argv[2:]
    {'load': load, 'counts': counts, 'compare': compare, 'value': value, 'watch': watch, 'watched': watched}[command](*args)
