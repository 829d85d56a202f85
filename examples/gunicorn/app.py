"""A small WSGI app instrumented with prometheus_client in multiprocess mode.

It does NOT serve /metrics: every gunicorn worker writes its values to
$PROMETHEUS_MULTIPROC_DIR and multiproc-exporter (a separate process) serves them merged.
PROMETHEUS_MULTIPROC_DIR must be set before Python starts (start.sh, the Kubernetes
manifest and the systemd example all do), or prometheus_client keeps values in memory only.

Routes: GET /  ->  200 | GET /items  ->  200 | POST /items  ->  201 (reads the body)
        GET /error  ->  500 | anything else  ->  404 (route label "other": bounded cardinality)
"""
import time

from prometheus_client import Counter, Gauge, Histogram

REQUESTS = Counter('app_requests', 'HTTP requests handled.', ['method', 'route', 'status'])
LATENCY = Histogram('app_request_duration_seconds', 'Time spent handling a request.', ['route'])
# livesum: the sum over live workers only. The gauge_livesum_<pid>.db file of a worker that
# exited is removed by gunicorn.conf.py's child_exit hook (POST /mark-dead/<pid>).
IN_PROGRESS = Gauge('app_requests_in_progress', 'Requests being handled right now.',
                    multiprocess_mode='livesum')
WORKERS = Gauge('app_worker_processes', 'Live gunicorn workers (each sets 1).',
                multiprocess_mode='livesum')
# max: the largest value any worker ever wrote, dead workers included, until the directory
# is wiped at the next start.
PEAK_BODY = Gauge('app_request_body_peak_bytes', 'Largest request body seen since start.',
                  multiprocess_mode='max')

WORKERS.set(1)  # runs once per worker: gunicorn imports the app after forking (no preload_app)

_peak_body = 0


def _route(method, path):
    """(route label, status, body) for a request: the whole application logic."""
    if path == '/':
        return '/', '200 OK', b'hello\n'
    if path == '/items' and method == 'GET':
        return '/items', '200 OK', b'[]\n'
    if path == '/items' and method == 'POST':
        return '/items', '201 Created', b'{}\n'
    if path == '/error':
        return '/error', '500 Internal Server Error', b'failed\n'
    return 'other', '404 Not Found', b'not found\n'


def app(environ, start_response):
    global _peak_body
    start = time.perf_counter()
    method = environ['REQUEST_METHOD']
    with IN_PROGRESS.track_inprogress():
        size = int(environ.get('CONTENT_LENGTH') or 0)
        if size:
            environ['wsgi.input'].read(size)
            if size > _peak_body:
                _peak_body = size
                PEAK_BODY.set(size)
        route, status, body = _route(method, environ.get('PATH_INFO', '/'))
        start_response(status, [('Content-Type', 'text/plain'), ('Content-Length', str(len(body)))])
    REQUESTS.labels(method, route, status.split(' ', 1)[0]).inc()
    LATENCY.labels(route).observe(time.perf_counter() - start)
    return [body]
