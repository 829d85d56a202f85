#!/usr/bin/env python3
"""`multiproc-exporter push` against Debian's real Pushgateway (prometheus-pushgateway).

    python3 scripts/push_checks.py --binary .build/debug/multiproc-exporter

Each gateway is started here on a free port, in memory (`--persistence.file=`: Debian's default
would persist to /var/lib/prometheus). Checks:

1. equal: a .db directory written by real multiprocess workers and a textfile written by the
   real `write_to_textfile` (Info, Enum, a custom collector) are pushed with two grouping labels
   (one with a `/`, one with a space: both go base64, as prometheus_client's `push_to_gateway`
   sends them; the URL is compared with the one Python builds). The gateway's /metrics then
   holds exactly what `dump` prints (families, HELP, TYPE, every sample and value) plus the
   `job`/`instance` and grouping labels. A second push replaces the group (PUT).
2. refused: a push whose family contradicts another group's type gets the gateway's 400; push
   exits 1 and prints the gateway's message, the group stays as it was.
3. TLS and basic auth: a gateway with `--web.config.file` (certificates by `openssl`, bcrypt by
   `htpasswd`); `--gateway.config.file` with `ca_file` and `basic_auth.password_file` pushes;
   so does `insecure_skip_verify` without a CA; a wrong password exits 1 (401); no CA, or
   another `server_name`, exit 3 (certificate does not verify) at the first attempt.
4. retries: a gateway that starts 1.2 s after the push is taken at a later attempt; a port where
   nothing listens exits 3 after exactly `--gateway.retries` + 1 attempts in bounded time; a
   proxy answering 503 twice is retried, a 400 from it is not.
5. usage errors exit 2 before anything is sent.
"""
import argparse
import http.server
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, 'lib'))

import testkit  # noqa: E402

GATEWAY_OWN = ('push_time_seconds', 'push_failure_time_seconds', 'pushgateway_', 'go_', 'process_')


Failure = testkit.Failure
check = testkit.check


class Gateway:
    def __init__(self, work, port=None, web_config=None):
        self.port = port or testkit.free_port()
        self.log_path = os.path.join(work, f'pushgateway-{self.port}.log')
        cmd = ['prometheus-pushgateway', f'--web.listen-address=127.0.0.1:{self.port}', '--persistence.file=']
        if web_config:
            cmd.append(f'--web.config.file={web_config}')
        self.log = open(self.log_path, 'w')
        self.process = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT)
        self.scheme = 'https' if web_config else 'http'
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if 'Listening on' in open(self.log_path).read() or 'listening' in open(self.log_path).read().lower():
                return
            time.sleep(0.05)
        raise Failure('the Pushgateway did not start: ' + open(self.log_path).read())

    @property
    def url(self):
        return f'{self.scheme}://127.0.0.1:{self.port}'

    def families(self):
        from prometheus_client.parser import text_string_to_metric_families
        with urllib.request.urlopen(f'http://127.0.0.1:{self.port}/metrics', timeout=10) as response:
            text = response.read().decode()
        return {f.name: f for f in text_string_to_metric_families(text) if not f.name.startswith(GATEWAY_OWN)}

    def pushed_jobs(self):
        """The jobs of the groups pushed successfully (push_time_seconds above 0)."""
        from prometheus_client.parser import text_string_to_metric_families
        with urllib.request.urlopen(f'http://127.0.0.1:{self.port}/metrics', timeout=10) as response:
            text = response.read().decode()
        return {s.labels['job'] for f in text_string_to_metric_families(text) if f.name == 'push_time_seconds'
                for s in f.samples if s.value > 0}

    def stop(self):
        self.process.terminate()
        self.process.wait(10)
        self.log.close()


def push(binary, *args, expect=0):
    result = subprocess.run([binary, 'push', *args], capture_output=True, text=True, timeout=120)
    check(result.returncode == expect, f'push {" ".join(args)} exited {result.returncode}, expected {expect}:\n'
                                       f'{result.stdout}{result.stderr}')
    return result


def dump_families(binary, db, textfiles):
    from prometheus_client.parser import text_string_to_metric_families
    text = subprocess.run([binary, 'dump', '--multiproc-dir', db, '--textfile.directory', textfiles], capture_output=True,
                          text=True, check=True).stdout
    return {f.name: f for f in text_string_to_metric_families(text)}


def as_pushed(families, labels):
    """{family: (type, help, {(sample, labels): value})} with `labels` added to every sample.
    `le` and `quantile` are compared as numbers: Go writes the bound 1.0 as "1"."""
    out = {}
    for name, family in families.items():
        samples = {}
        for s in family.samples:
            merged = dict(s.labels, **labels)
            for bound in ('le', 'quantile'):
                if bound in merged:
                    merged[bound] = float(merged[bound])
            samples[(s.name, tuple(sorted(merged.items())))] = s.value
        out[name] = (family.type, family.documentation, samples)
    return out


def difference(want, got):
    """The first few differences, for a readable failure."""
    lines = []
    for name in sorted(set(want) | set(got)):
        if want.get(name) == got.get(name):
            continue
        if name not in got or name not in want:
            lines.append(f'{name}: {"missing on the gateway" if name not in got else "only on the gateway"}')
            continue
        (wt, wh, ws), (gt, gh, gs) = want[name], got[name]
        if (wt, wh) != (gt, gh):
            lines.append(f'{name}: type/help {wt!r} {wh!r} != {gt!r} {gh!r}')
        for key in sorted(set(ws) | set(gs), key=str):
            if ws.get(key) != gs.get(key):
                lines.append(f'{name}: {key}: dump {ws.get(key)!r}, gateway {gs.get(key)!r}')
    return '\n'.join(lines[:20])


def python_path(job, grouping):
    """The path prometheus_client's push_to_gateway PUTs to."""
    from prometheus_client import CollectorRegistry, push_to_gateway
    seen = {}

    def handler(url, method, timeout, headers, data):
        seen['url'] = url
        return lambda: None

    push_to_gateway('http://gateway', job, CollectorRegistry(), grouping_key=grouping, handler=handler)
    return seen['url'][len('http://gateway'):]


def write_textfile(directory, phase):
    from prometheus_client import CollectorRegistry, Enum, Info, write_to_textfile
    from prometheus_client.core import GaugeMetricFamily
    registry = CollectorRegistry()
    Info('batch_build', 'Build of the batch job.', registry=registry).info({'version': '2.0', 'commit': 'a"b'})
    Enum('batch_phase', 'Phase.', states=['load', 'done'], registry=registry).state(phase)

    class Rows:
        def collect(self):
            rows = GaugeMetricFamily('batch_rows', 'Rows per table.', labels=['table'])
            rows.add_metric(['users'], 12 if phase == 'load' else 40)
            rows.add_metric(['orders'], 1.5e-3)
            yield rows

    registry.register(Rows())
    write_to_textfile(os.path.join(directory, 'batch.prom'), registry)


def equal_and_replaced(binary, work):
    db = os.path.join(work, 'db')
    subprocess.run([sys.executable, os.path.join(HERE, 'demo_dir.py'), db], check=True, capture_output=True)
    textfiles = os.path.join(work, 'textfiles')
    os.makedirs(textfiles)
    write_textfile(textfiles, 'load')
    gateway = Gateway(work)
    try:
        grouping = {'instance': 'worker-1', 'path': '/srv/batch', 'team': 'data eng'}
        keys = [arg for name, value in grouping.items() for arg in ('--grouping-key', f'{name}={value}')]
        result = push(binary, '--gateway', gateway.url, '--job', 'nightly', *keys, '--multiproc-dir', db, '--textfile.directory', textfiles)
        expected_path = python_path('nightly', grouping)
        check(f'pushed to {gateway.url}{expected_path} (200)' in result.stdout, f'{result.stdout!r}, Python PUTs to {expected_path}')
        labels = dict(grouping, job='nightly')
        want = as_pushed(dump_families(binary, db, textfiles), labels)
        got = as_pushed(gateway.families(), {})
        check(want == got, 'the gateway holds something else than dump:\n' + difference(want, got))
        count = sum(len(samples) for _, _, samples in want.values())

        # PUT replaces the group: a second push with other values, and a series gone.
        write_textfile(textfiles, 'done')
        shutil.rmtree(db)
        os.makedirs(db)
        push(binary, '--gateway', gateway.url, '--job', 'nightly', *keys, '--multiproc-dir', db, '--textfile.directory', textfiles)
        want = as_pushed(dump_families(binary, db, textfiles), labels)
        got = as_pushed(gateway.families(), {})
        check(want == got, 'the second push did not replace the group:\n' + difference(want, got))
        check(want['batch_rows'][2][('batch_rows', tuple(sorted(dict(labels, table='users').items())))] == 40, 'the new value')
        print(f'equal: {count} samples after the first push, {len(want)} families after the second, as dump prints them '
              f'plus job, instance and the grouping labels; the URL is the one push_to_gateway builds')
        return gateway, db, textfiles
    except BaseException:
        gateway.stop()
        raise


def refused(binary, work, gateway, db):
    before = gateway.families()
    contradiction = os.path.join(work, 'contradiction')
    os.makedirs(contradiction)
    # batch_rows is a gauge in the nightly group: as a summary here the gateway refuses it.
    with open(os.path.join(contradiction, 'x.prom'), 'w') as f:
        f.write('# HELP batch_rows Rows.\n# TYPE batch_rows summary\nbatch_rows_count 3\nbatch_rows_sum 7\n')
    result = push(binary, '--gateway', gateway.url, '--job', 'other', '--multiproc-dir', db, '--textfile.directory', contradiction,
                  expect=1)
    check('the Pushgateway refused the push' in result.stderr and '400 Bad Request' in result.stderr
          and 'inconsistent with existing metrics' in result.stderr, f'message: {result.stderr}')
    check(gateway.families() == before, 'a refused push changed the gateway')
    print(f'refused: exit 1, {result.stderr.strip().splitlines()[-1][:140]}...')


def tls_and_basic_auth(binary, work, db, textfiles):
    tls = os.path.join(work, 'tls')
    os.makedirs(tls)

    def run(*cmd):
        subprocess.run(cmd, cwd=tls, check=True, capture_output=True)

    run('openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key',
        '-out', 'ca.crt', '-days', '2', '-subj', '/CN=push-test-ca')
    run('openssl', 'req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'gateway.key',
        '-out', 'gateway.csr', '-subj', '/CN=pushgateway')
    with open(os.path.join(tls, 'san.ext'), 'w') as f:
        f.write('subjectAltName=DNS:localhost,IP:127.0.0.1\n')
    run('openssl', 'x509', '-req', '-in', 'gateway.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial',
        '-out', 'gateway.crt', '-days', '2', '-extfile', 'san.ext')
    bcrypt = subprocess.run(['htpasswd', '-nbBC', '10', '', 'correct horse'], capture_output=True, text=True,
                            check=True).stdout.strip().lstrip(':')
    with open(os.path.join(tls, 'web.yml'), 'w') as f:
        f.write(f'tls_server_config:\n  cert_file: gateway.crt\n  key_file: gateway.key\nbasic_auth_users:\n  batch: {bcrypt}\n')
    with open(os.path.join(tls, 'password'), 'w') as f:
        f.write('correct horse\n')
    configs = {
        'good': 'basic_auth:\n  username: batch\n  password_file: password\ntls_config:\n  ca_file: ca.crt\n',
        'wrong-password': 'basic_auth: {username: batch, password: wrong}\ntls_config: {ca_file: ca.crt}\n',
        'no-ca': 'basic_auth: {username: batch, password_file: password}\n',
        'other-name': 'basic_auth: {username: batch, password_file: password}\ntls_config: {ca_file: ca.crt, server_name: other.example}\n',
        'insecure': 'basic_auth: {username: batch, password_file: password}\ntls_config: {insecure_skip_verify: true}\n',
    }
    for name, text in configs.items():
        with open(os.path.join(tls, name + '.yml'), 'w') as f:
            f.write(text)
    gateway = Gateway(work, web_config=os.path.join(tls, 'web.yml'))
    try:
        common = ['--gateway', gateway.url, '--job', 'secure', '--multiproc-dir', db, '--textfile.directory', textfiles,
                  '--gateway.retries', '2']
        push(binary, *common, '--gateway.config.file', os.path.join(tls, 'good.yml'))
        push(binary, '--gateway', f'https://localhost:{gateway.port}', '--job', 'secure-by-name', '--multiproc-dir', db,
             '--gateway.config.file', os.path.join(tls, 'good.yml'))
        # The gateway's /metrics is behind basic auth too: read it with the password.
        request = urllib.request.Request(f'https://127.0.0.1:{gateway.port}/metrics')
        import base64
        import ssl
        request.add_header('Authorization', 'Basic ' + base64.b64encode(b'batch:correct horse').decode())
        context = ssl.create_default_context(cafile=os.path.join(tls, 'ca.crt'))
        with urllib.request.urlopen(request, timeout=10, context=context) as response:
            text = response.read().decode()
        check('batch_rows{instance="",job="secure",table="users"} 40' in text, 'the TLS push is on the gateway')
        push(binary, *common, '--gateway.config.file', os.path.join(tls, 'insecure.yml'))
        result = push(binary, *common, '--gateway.config.file', os.path.join(tls, 'wrong-password.yml'), expect=1)
        check('401 Unauthorized' in result.stderr, result.stderr)
        for name in ('no-ca', 'other-name'):
            result = push(binary, *common, '--gateway.config.file', os.path.join(tls, name + '.yml'), expect=3)
            check("certificate does not verify" in result.stderr and '(1 attempt)' in result.stderr and 'retrying' not in result.stderr,
                  f'{name}: {result.stderr}')
        result = push(binary, '--gateway', f'http://127.0.0.1:{gateway.port}', '--job', 'plain', '--multiproc-dir', db,
                      '--gateway.retries', '0', expect=1)
        check('HTTP request to an HTTPS server' in result.stderr, result.stderr)
    finally:
        gateway.stop()
    print('TLS and basic auth: pushed over HTTPS with a CA file and a password file, and with insecure_skip_verify; '
          'wrong password 401 (exit 1); no CA and another server_name refused at once (exit 3)')


class FlakyProxy(http.server.BaseHTTPRequestHandler):
    """A proxy in front of a restarting gateway: 503 for the first `failures` PUTs, then `final`."""
    failures = 2
    final = 200
    seen = []

    def do_PUT(self):
        self.rfile.read(int(self.headers.get('Content-Length', 0)))
        FlakyProxy.seen.append(self.path)
        status = 503 if len(FlakyProxy.seen) <= FlakyProxy.failures else FlakyProxy.final
        self.send_response(status)
        self.send_header('Content-Length', '0')
        self.end_headers()

    def log_message(self, *args):
        pass


def retries(binary, work, db):
    # Nothing listens yet: the gateway comes up 1.2 s later, between the attempts.
    port = testkit.free_port()
    started = {}

    def start_later():
        time.sleep(1.2)
        started['gateway'] = Gateway(work, port=port)

    thread = threading.Thread(target=start_later)
    thread.start()
    try:
        result = push(binary, '--gateway', f'127.0.0.1:{port}', '--job', 'late', '--multiproc-dir', db, '--gateway.retries', '5')
        thread.join()
        attempts = len(re.findall(r'push attempt \d+ failed', result.stderr))
        check(attempts >= 1 and 'Connection refused' in result.stderr, f'no retry seen: {result.stderr}')
        check(started['gateway'].pushed_jobs() == {'late'}, 'the late gateway has the push')
    finally:
        thread.join()
        if 'gateway' in started:
            started['gateway'].stop()
    # Never listening: exactly retries + 1 attempts, the pauses bounded.
    port = testkit.free_port()
    began = time.monotonic()
    result = push(binary, '--gateway', f'http://127.0.0.1:{port}', '--job', 'never', '--multiproc-dir', db,
                  '--gateway.retries', '2', expect=3)
    elapsed = time.monotonic() - began
    check('(3 attempts)' in result.stderr and 'Connection refused' in result.stderr and len(re.findall('retrying in', result.stderr)) == 2,
          result.stderr)
    check(1.0 < elapsed < 4.0, f'two pauses of 0.5 s and 1 s (±20 %) took {elapsed:.2f} s')
    # A proxy answering 503 is retried; a 400 is final.
    server = http.server.HTTPServer(('127.0.0.1', 0), FlakyProxy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        result = push(binary, '--gateway', f'http://127.0.0.1:{server.server_port}', '--job', 'proxied', '--multiproc-dir', db)
        check(len(FlakyProxy.seen) == 3 and '(200, attempt 3)' in result.stdout, f'{FlakyProxy.seen} {result.stdout}')
        FlakyProxy.seen.clear()
        FlakyProxy.failures, FlakyProxy.final = 0, 400
        push(binary, '--gateway', f'http://127.0.0.1:{server.server_port}', '--job', 'proxied', '--multiproc-dir', db, expect=1)
        check(len(FlakyProxy.seen) == 1, f'a 400 was retried: {FlakyProxy.seen}')
    finally:
        server.shutdown()
    # Over https, a gateway that resets or closes the connection during the handshake (restarting,
    # a proxy): a connection failure, retried, never a TLS verdict nor a SIGPIPE.
    with open(os.path.join(work, 'insecure.yml'), 'w') as f:
        f.write('tls_config: {insecure_skip_verify: true}\n')
    for how, why in (('reset', 'Connection reset by peer'), ('close', 'the connection closed during the TLS handshake')):
        listener = socket.socket()
        listener.bind(('127.0.0.1', 0))
        listener.listen(8)
        accepted = []

        def hang_up():
            while True:
                try:
                    conn, _ = listener.accept()
                except OSError:
                    return
                accepted.append(conn)
                if how == 'reset':
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
                conn.close()

        threading.Thread(target=hang_up, daemon=True).start()
        try:
            result = push(binary, '--gateway', f'https://127.0.0.1:{listener.getsockname()[1]}', '--job', 'hung-up',
                          '--multiproc-dir', db, '--gateway.retries', '2',
                          '--gateway.config.file', os.path.join(work, 'insecure.yml'), expect=3)
            check(len(accepted) == 3 and '(3 attempts)' in result.stderr and why in result.stderr and 'TLS:' not in result.stderr,
                  f'{how}: {len(accepted)} connections: {result.stderr}')
        finally:
            listener.close()
    print(f'retries: a gateway starting late taken after {attempts} failed attempt(s); never listening: 3 attempts in '
          f'{elapsed:.1f} s, exit 3; 503 retried, 400 not; over https a reset or a close in the handshake retried')


def usage_errors(binary, db):
    for args, message in [
        (['--gateway', 'ftp://x', '--job', 'j'], 'scheme must be http or https'),
        (['--gateway', 'http://127.0.0.1:1', '--job', ''], '--job must not be empty'),
        (['--gateway', 'http://127.0.0.1:1', '--job', 'j', '--grouping-key', 'job=x'], 'the job is --job'),
        (['--gateway', 'http://127.0.0.1:1', '--job', 'j', '--gateway.config.file', '/nonexistent.yml'], 'gateway config: cannot read'),
        (['--gateway', 'http://127.0.0.1:1', '--job', 'j', '--multiproc-dir', '/nonexistent-dir'], '/nonexistent-dir: no such directory'),
    ]:
        extra = [] if '--multiproc-dir' in args else ['--multiproc-dir', db]
        result = push(binary, *args, *extra, expect=2)
        check(message in result.stderr, f'{args}: {result.stderr}')
    print('usage errors: exit 2 with the reason, nothing sent')


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--binary', required=True)
    args = parser.parse_args()
    binary = os.path.abspath(args.binary)

    def checks(work):
        gateway, db, textfiles = equal_and_replaced(binary, work)
        try:
            refused(binary, work, gateway, db)
        finally:
            gateway.stop()
        tls_and_basic_auth(binary, work, db, textfiles)
        retries(binary, work, db)
        usage_errors(binary, db)

    testkit.run_checks('push-checks-', checks)

if __name__ == '__main__':
    main()
