"""A WSGI app for the workers collector's end-to-end test: `GET /burn?ms=N` spends N
milliseconds of CPU in the worker, then counts the request with prometheus_client in
multiprocess mode (PROMETHEUS_MULTIPROC_DIR set before Python starts). The counter without
labels is created at import, so every worker writes its files as soon as it boots.
"""
import os
import time
from urllib.parse import parse_qs

from prometheus_client import Counter

BOOTS = Counter('app_worker_boots', 'Workers booted (each counts itself once).')
BURNT = Counter('app_burnt_cpu_seconds', 'CPU seconds the requests asked to burn.')

BOOTS.inc()


def app(environ, start_response):
    ms = int(parse_qs(environ.get('QUERY_STRING', '')).get('ms', ['0'])[0])
    end = time.process_time() + ms / 1000
    while time.process_time() < end:
        pass
    BURNT.inc(ms / 1000)
    body = str(os.getpid()).encode()
    start_response('200 OK', [('Content-Type', 'text/plain'), ('Content-Length', str(len(body))), ('X-Worker-Pid', body.decode())])
    return [body]
