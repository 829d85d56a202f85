"""gunicorn settings for an app whose metrics multiproc-exporter serves.

Two hooks matter for prometheus_client's multiprocess mode:
  on_starting  empties $PROMETHEUS_MULTIPROC_DIR once, before any worker exists;
  child_exit   tells the exporter that a worker is gone, so its live* gauge files go.
Everything else here is an ordinary gunicorn setting; override any of them on the command
line (`gunicorn -c gunicorn.conf.py --workers 8 app:app`) or in $GUNICORN_CMD_ARGS.
"""
import encodings.idna  # noqa: F401  (see _OPENER)
import glob
import json
import os
import ssl
import urllib.request

from prometheus_client import multiprocess

bind = os.environ.get('GUNICORN_BIND', '127.0.0.1:8000')
workers = int(os.environ.get('GUNICORN_WORKERS', '2'))
# Recycling workers is the reason dead-worker files exist at all: keep it, mark them dead.
max_requests = 1000
max_requests_jitter = 100
wsgi_app = 'app:app'

EXPORTER_URL = os.environ.get('MULTIPROC_EXPORTER_URL', 'http://127.0.0.1:8987').rstrip('/')
# child_exit runs in gunicorn's master, which supervises every worker: never block it long.
MARK_DEAD_TIMEOUT_SECONDS = 1.0
# gunicorn calls child_exit from its SIGCHLD handler, and workers that exit together nest
# those calls. Everything the hook needs is therefore imported and built here, once: a lazy
# first import inside nested calls fails (seen: "unknown encoding: idna" from the socket
# module's first host name encoding). No proxy: the exporter is on this host or in this pod,
# whatever HTTP_PROXY says. An https:// URL (the exporter runs with TLS from --web.config.file)
# is verified against MULTIPROC_EXPORTER_CA_FILE, or the system CAs when it is unset.
_CA_FILE = os.environ.get('MULTIPROC_EXPORTER_CA_FILE', '').strip() or None
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}),
                                      urllib.request.HTTPSHandler(context=ssl.create_default_context(cafile=_CA_FILE)))


def _multiproc_dir():
    path = os.environ.get('PROMETHEUS_MULTIPROC_DIR')
    if not path:
        raise RuntimeError('PROMETHEUS_MULTIPROC_DIR must be set before gunicorn starts')
    return path


def on_starting(server):
    """Empty the metrics directory: files of the previous run would be merged into this one.

    Only the files prometheus_client writes (*.db) are removed, never the directory itself
    (it is often a mount: an emptyDir or a tmpfs) nor anything else a misconfigured path
    might point at."""
    path = _multiproc_dir()
    os.makedirs(path, exist_ok=True)
    stale = glob.glob(os.path.join(path, '*.db'))
    for name in stale:
        os.unlink(name)
    server.log.info('multiproc dir %s: removed %d file(s) of the previous run', path, len(stale))


def child_exit(server, worker):
    """A worker exited (recycled after max_requests, crashed, or shut down)."""
    mark_dead_via_exporter(server, worker)


def mark_dead_via_exporter(server, worker):
    """Ask the exporter to remove the worker's live* gauge files (POST /mark-dead/<pid>). If
    the exporter cannot be reached or refuses, remove them here instead, as prometheus_client's
    documented hook does. Never raises: an exception here would disturb gunicorn's master."""
    request = urllib.request.Request(f'{EXPORTER_URL}/mark-dead/{worker.pid}', method='POST', data=b'')
    token = os.environ.get('MULTIPROC_EXPORTER_TOKEN', '').strip()
    if token:
        request.add_header('Authorization', f'Bearer {token}')
    try:
        with _OPENER.open(request, timeout=MARK_DEAD_TIMEOUT_SECONDS) as response:
            removed = json.load(response).get('removed', [])
        server.log.info('mark-dead pid %s via exporter: removed %s', worker.pid, removed)
        return
    except Exception as error:  # URLError, HTTPError (401/403/5xx), timeouts, bad JSON
        server.log.warning('mark-dead pid %s via exporter failed (%s): falling back to '
                           'prometheus_client.multiprocess.mark_process_dead', worker.pid, error)
    try:
        multiprocess.mark_process_dead(worker.pid)
    except Exception as error:
        server.log.error('mark_process_dead(%s) failed: %s', worker.pid, error)
