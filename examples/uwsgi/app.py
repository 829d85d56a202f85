"""A small WSGI app instrumented with prometheus_client in multiprocess mode, run by uWSGI.

uWSGI has no hook that tells anyone a worker died (`max-requests` recycling, harakiri,
SIGKILL, the OOM killer), so nothing here marks dead workers: multiproc-exporter runs with
`--auto-mark-dead` and finds them in /proc. The app does NOT serve /metrics.
PROMETHEUS_MULTIPROC_DIR must be set before Python starts (start.sh does).

Routes: GET /  ->  200 | GET /items  ->  200 | GET /error  ->  500 | anything else  ->  404
"""
import os
import time

from prometheus_client import Counter, Gauge, Histogram

REQUESTS = Counter('app_requests', 'HTTP requests handled.', ['route', 'status'])
LATENCY = Histogram('app_request_duration_seconds', 'Time spent handling a request.', ['route'])
# livesum / liveall: only live workers count. A dead worker's gauge_live*_<pid>.db files
# are removed by the exporter's auto mark-dead.
IN_PROGRESS = Gauge('app_requests_in_progress', 'Requests being handled right now.',
                    multiprocess_mode='livesum')
WORKERS = Gauge('app_worker_processes', 'Live uWSGI workers that served a request (each sets 1).',
                multiprocess_mode='livesum')
WORKER_REQUESTS = Gauge('app_worker_requests', 'Requests served by each live worker.',
                        multiprocess_mode='liveall')

_served = 0


def _route(path):
    """(route label, status, body) for a request: the whole application logic."""
    if path == '/':
        return '/', '200 OK', b'hello\n'
    if path == '/items':
        return '/items', '200 OK', b'[]\n'
    if path == '/error':
        return '/error', '500 Internal Server Error', b'failed\n'
    return 'other', '404 Not Found', b'not found\n'


def application(environ, start_response):
    global _served
    start = time.perf_counter()
    # Set per request, not at import: uWSGI imports the app once in its master and forks
    # the workers from it (no lazy-apps), so import-time values would be the master's.
    WORKERS.set(1)
    with IN_PROGRESS.track_inprogress():
        route, status, body = _route(environ.get('PATH_INFO', '/'))
        start_response(status, [('Content-Type', 'text/plain'), ('Content-Length', str(len(body))),
                                ('X-Worker-Pid', str(os.getpid()))])
    _served += 1
    WORKER_REQUESTS.set(_served)
    REQUESTS.labels(route, status.split(' ', 1)[0]).inc()
    LATENCY.labels(route).observe(time.perf_counter() - start)
    return [body]
