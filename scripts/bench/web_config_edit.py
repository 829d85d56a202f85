#!/usr/bin/env python3
"""What a web config edit costs the request that comes after it (README "TLS and basic auth").

usage: scripts/bench/web_config_edit.py --binary .build/release/multiproc-exporter [--edits 9]

Serves an empty directory with TLS (RSA 2048, made by openssl) and basic auth (cost-10 hashes,
made by htpasswd), one keep-alive HTTPS connection (Python's http.client), GET /healthz (no
bcrypt in the way: basic auth leaves it alone; headers and the rate limit still apply). Prints
the median of 200 warm requests, then for each edit (the config replaced by rename with
another user's hash, as an editor or Kubernetes does) the first request after it, which waits
for the reload, and the one after that. Needs openssl and htpasswd.
"""
import argparse
import base64
import http.client
import os
import re
import ssl
import statistics
import subprocess
import tempfile
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--binary', default='.build/release/multiproc-exporter')
    ap.add_argument('--edits', type=int, default=9)
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix='web-config-edit-')
    os.makedirs(f'{work}/metrics')
    subprocess.run(['openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', f'{work}/tls.key', '-out',
                    f'{work}/tls.crt', '-days', '2', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1'],
                   check=True, capture_output=True)
    hashes = [subprocess.run(['htpasswd', '-nbBC', '10', '', f'password-{i}'], check=True, capture_output=True,
                             text=True).stdout.strip().strip(':') for i in range(2)]

    def write(edit):
        with open(f'{work}/web.yml.tmp', 'w') as f:
            f.write(f'tls_server_config: {{cert_file: tls.crt, key_file: tls.key}}\nbasic_auth_users:\n  u{edit}: {hashes[edit % 2]}\n')
        os.rename(f'{work}/web.yml.tmp', f'{work}/web.yml')

    write(0)
    server = subprocess.Popen([os.path.abspath(a.binary), 'serve', '--multiproc-dir', f'{work}/metrics', '--web.listen-address',
                               '127.0.0.1:0', '--web.config.file', f'{work}/web.yml'], stderr=subprocess.PIPE, text=True)
    try:
        port = None
        while port is None:
            match = re.search(r'address=127\.0\.0\.1:(\d+)', server.stderr.readline())
            port = match and int(match.group(1))
        connection = http.client.HTTPSConnection('127.0.0.1', port, context=ssl.create_default_context(cafile=f'{work}/tls.crt'))

        def get():
            started = time.perf_counter()
            connection.request('GET', '/healthz')
            response = connection.getresponse()
            response.read()
            assert response.status == 200, response.status
            return (time.perf_counter() - started) * 1e3
        print(f'warm request: median {statistics.median(get() for _ in range(200)):.3f} ms')
        firsts = []
        for edit in range(1, a.edits + 1):
            write(edit)
            first, second = get(), get()
            firsts.append(first)
            print(f'edit {edit}: first request after it {first:.2f} ms, the next {second:.2f} ms')
        print(f'first request after an edit: median {statistics.median(firsts):.2f} ms')
    finally:
        server.terminate()
        server.wait()


if __name__ == '__main__':
    main()
