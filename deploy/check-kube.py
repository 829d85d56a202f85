#!/usr/bin/env python3
"""`make test-kube`: the images of `make image`, run for real (as root, with podman).

  1. image: localhost/multiproc-exporter:dev is at most 40 MB, runs as uid 65532, keeps its
     HEALTHCHECK (docker format); started as users start it (no flags), its HEALTHCHECK passes
     (`podman healthcheck run`), and fails once the exporter is stopped;
  2. deploy/kubernetes/local (gunicorn + the exporter sidecar, HTTPS + basic auth + token),
     played by deploy/kube_play.py on free host ports: traffic through the app with worker
     recycling (max_requests: the child_exit hook marks the recycled workers dead through the
     exporter); the sidecar's /metrics equals prometheus_client's MultiProcessCollector run in
     the app container over the same emptyDir, sample for sample; live workers' gauges count 2;
  3. deploy/kubernetes/local-auto-mark-dead (uWSGI, no hook, shareProcessNamespace): a worker
     SIGKILLed in the app container loses its live gauges (files and series) to auto mark-dead
     within its two checks, and the exporter still equals Python;
  4. a real Prometheus (Debian's) scrapes each pod's exporter over HTTPS, verifying the
     certificate of the Secret multiproc-exporter-tls (server name multiproc-exporter), with the
     basic auth of the Secret multiproc-exporter-scrape-auth (whose hash the web config holds),
     loads deploy/prometheus/rules.yml (every rule must evaluate without error), and answers
     every query of deploy/grafana/multiproc-exporter.json with data over the run.

usage: deploy/check-kube.py   (about 2 minutes once the images exist; needs root, podman,
                               kubectl, prometheus, prometheus_client)
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
import ssl
import base64

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, 'scripts', 'lib'))
import testkit  # noqa: E402

IMAGE = 'localhost/multiproc-exporter:dev'
MAX_IMAGE_BYTES = 40_000_000
KUBE_PLAY = [sys.executable, os.path.join(ROOT, 'deploy', 'kube_play.py')]
PYTHON_COLLECTOR = ('import sys; from prometheus_client import CollectorRegistry, generate_latest; '
                    'from prometheus_client.multiprocess import MultiProcessCollector; '
                    'r = CollectorRegistry(); MultiProcessCollector(r); sys.stdout.write(generate_latest(r).decode())')


def step(message):
    print(f'==> {message}', flush=True)


def fail(message):
    print(f'FAIL: {message}', file=sys.stderr, flush=True)
    sys.exit(1)


def podman(*args, check=True):
    return subprocess.run(['podman', *args], capture_output=True, text=True, check=check)


def wait_until(what, predicate, timeout, interval=0.5):
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            fail(f'{what}: not within {timeout}s')
        time.sleep(interval)


def check_image():
    step(f'image {IMAGE}')
    info = json.loads(podman('image', 'inspect', IMAGE).stdout)[0]
    size, config = info['Size'], info['Config']
    if size > MAX_IMAGE_BYTES:
        fail(f'{IMAGE} is {size} bytes, more than {MAX_IMAGE_BYTES}')
    if config.get('User') != '65532:65532':
        fail(f'{IMAGE} runs as {config.get("User")!r}, not 65532:65532')
    health = info.get('Healthcheck')  # podman's inspect: top level; only Docker's image format has it
    if not health or health['Test'][0] != 'CMD':
        fail(f'{IMAGE} has no HEALTHCHECK (built without --format docker?)')
    print(f'    {size / 1e6:.1f} MB, user {config["User"]}, HEALTHCHECK {health["Test"][1]}...')
    name = 'multiproc-exporter-check-image'
    podman('rm', '--force', name, check=False)
    # --health-interval disable: no systemd timers here; `healthcheck run` runs it once.
    podman('run', '--detach', '--name', name, '--health-interval', 'disable', IMAGE)
    try:
        wait_until('the HEALTHCHECK passes', lambda: podman('healthcheck', 'run', name, check=False).returncode == 0, 20)
        users = podman('top', name, 'user', 'args').stdout.split('\n')[1]
        if not users.startswith('exporter') or 'multiproc-exporter serve' not in users:
            fail(f'unexpected process in {name}: {users}')
        print(f'    started with no flags: HEALTHCHECK passes; process: {users.strip()}')
        # Stopped from the host (its pid namespace ignores SIGSTOP sent to its pid 1 from
        # inside): the kernel still accepts connections, nothing answers.
        pid = int(podman('inspect', '--format', '{{.State.Pid}}', name).stdout)
        os.kill(pid, signal.SIGSTOP)
        try:
            if podman('healthcheck', 'run', name, check=False).returncode == 0:
                fail('the HEALTHCHECK passes while the exporter is stopped')
        finally:
            os.kill(pid, signal.SIGCONT)
        print('    fails while the exporter is stopped (SIGSTOP: connections accepted, no answer)')
    finally:
        podman('rm', '--force', name, check=False)


class Pod:
    """One overlay played by kube_play.py, and its state.json."""

    def __init__(self, overlay, work):
        self.overlay = os.path.join(ROOT, 'deploy', 'kubernetes', overlay)
        # One state folder for both pods: the second reuses the first's certificates, which
        # the Prometheus of the run trusts.
        self.state_dir = os.path.join(work, 'kube')
        step(f'make kube-up for deploy/kubernetes/{overlay} (free ports)')
        out = subprocess.run([*KUBE_PLAY, 'up', self.overlay, '--state', self.state_dir, '--app-port', '0',
                              '--exporter-port', '0'], capture_output=True, text=True)
        sys.stderr.write(out.stderr)
        if out.returncode != 0:
            fail(f'kube_play.py up {overlay}')
        lines = out.stdout.split()
        if len(lines) != 2 or not lines[0].startswith('app=http://') or not lines[1].startswith('exporter=https://'):
            fail(f'kube-up printed {out.stdout!r}, not app=... and exporter=...')
        print('    ' + '  '.join(lines))
        with open(os.path.join(self.state_dir, 'state.json')) as f:
            self.state = json.load(f)
        self.app = lines[0].split('=', 1)[1]
        self.exporter = lines[1].split('=', 1)[1]
        self.tls = ssl.create_default_context(cafile=self.state['ca_file'])
        self.tls.check_hostname = False  # 127.0.0.1 is in the certificate too; Prometheus checks the DNS name

    def down(self):
        subprocess.run([*KUBE_PLAY, 'down', '--state', self.state_dir], check=False)

    def container(self, name):
        return f'{self.state["pod"]}-{name}'

    def get(self, path):
        with urllib.request.urlopen(self.app + path, timeout=10) as reply:
            return reply.headers, reply.read()

    def metrics(self):
        request = urllib.request.Request(self.exporter + '/metrics')
        auth = f'{self.state["scrape_username"]}:{self.state["scrape_password"]}'
        request.add_header('Authorization', 'Basic ' + base64.b64encode(auth.encode()).decode())
        with urllib.request.urlopen(request, timeout=10, context=self.tls) as reply:
            return reply.read().decode()

    def python_metrics(self):
        return podman('exec', self.container('app'), 'python3', '-c', PYTHON_COLLECTOR).stdout

    def empty_dir(self):
        return next(iter(self.state['empty_dirs'].values()))

    def assert_equal_to_python(self, what, skip=frozenset()):
        """The sidecar's app samples equal prometheus_client's over the same directory (but the
        families named in `skip`, served from elsewhere). The exporter's refresh may lag a write
        by a scrape: a few tries."""
        for _ in range(20):
            exporter = {k: v for k, v in testkit.samples(self.metrics(), own=False).items() if k[0] not in skip}
            python = testkit.samples(self.python_metrics())
            if exporter == python:
                print(f'    {what}: exporter == prometheus_client ({len(python)} samples)')
                return exporter
            time.sleep(0.5)
        missing = {k: v for k, v in python.items() if exporter.get(k) != v}
        extra = {k: v for k, v in exporter.items() if k not in python}
        fail(f'{what}: exporter differs from prometheus_client: python-only/different {list(missing.items())[:5]}, '
             f'exporter-only {list(extra.items())[:5]}')


def value(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))))


class Prometheus:
    """Debian's Prometheus scraping the pods' exporters through a file_sd target list."""

    def __init__(self, work):
        self.work = work
        self.port = testkit.free_port()
        self.targets = os.path.join(work, 'targets.json')
        self.set_target(None)
        self.started = time.time()
        self.config = os.path.join(work, 'prometheus.yml')
        self.log = open(os.path.join(work, 'prometheus.log'), 'w')
        self.process = None

    def set_target(self, pod):
        targets = [] if pod is None else [{'targets': [pod.exporter.split('//')[1]], 'labels': {'pod': pod.state['pod']}}]
        with open(self.targets + '.new', 'w') as f:
            json.dump(targets, f)
        os.replace(self.targets + '.new', self.targets)

    def start(self, pod):
        """The scrape config of deploy/kubernetes/base/podmonitor.yaml, as plain Prometheus."""
        with open(self.config, 'w') as f:
            f.write(f'''global: {{scrape_interval: 1s, evaluation_interval: 1s}}
rule_files: [{os.path.join(ROOT, 'deploy', 'prometheus', 'rules.yml')}]
scrape_configs:
  - job_name: example-app
    scheme: https
    scrape_timeout: 1s
    tls_config: {{ca_file: {pod.state['ca_file']}, server_name: multiproc-exporter}}
    basic_auth: {{username: {pod.state['scrape_username']}, password: {pod.state['scrape_password']}}}
    file_sd_configs: [{{files: [{self.targets}], refresh_interval: 1s}}]
''')
        self.set_target(pod)
        self.process = subprocess.Popen(['prometheus', f'--config.file={self.config}',
                                         f'--storage.tsdb.path={os.path.join(self.work, "tsdb")}',
                                         f'--web.listen-address=127.0.0.1:{self.port}'],
                                        stdout=self.log, stderr=subprocess.STDOUT)
        wait_until('Prometheus answers', lambda: self.ready(), 30)

    def ready(self):
        try:
            with urllib.request.urlopen(f'http://127.0.0.1:{self.port}/-/ready', timeout=2) as reply:
                return reply.status == 200
        except OSError:
            return False

    def api(self, path, **params):
        url = f'http://127.0.0.1:{self.port}/api/v1/{path}?' + urllib.parse.urlencode(params)
        with urllib.request.urlopen(url, timeout=10) as reply:
            body = json.load(reply)
        if body['status'] != 'success':
            fail(f'Prometheus {path} {params}: {body}')
        return body['data']

    def query(self, expr):
        return self.api('query', query=expr)['result']

    def scraped(self, pod):
        """Waits for up == 1 on the pod's exporter and for the app's counter to arrive."""
        instance = pod.exporter.split('//')[1]
        wait_until(f'Prometheus scrapes {instance} (up == 1)',
                   lambda: any(r['value'][1] == '1' for r in self.query(f'up{{instance="{instance}"}}')), 30)
        total = sum(v for (name, _), v in testkit.samples(pod.metrics(), own=False).items() if name == 'app_requests_total')
        wait_until('the app\'s request count in Prometheus',
                   lambda: any(float(r['value'][1]) == total
                               for r in self.query(f'sum(app_requests_total{{instance="{instance}"}})')), 30)
        print(f'    Prometheus scraped {instance} over HTTPS + basic auth: up 1, sum(app_requests_total) {total:g}')

    def stop(self):
        if self.process:
            self.process.terminate()
            self.process.wait(timeout=30)


def traffic(pod, requests):
    """Requests over every route of the example apps; gunicorn closes each connection."""
    routes = ['/', '/items', '/error', '/nowhere']
    for i in range(requests):
        path = routes[i % len(routes)] if i % 5 else '/'
        try:
            if i % 7 == 0:
                urllib.request.urlopen(urllib.request.Request(pod.app + '/items', data=b'x' * (i % 300), method='POST'),
                                       timeout=10).read()
            else:
                urllib.request.urlopen(pod.app + path, timeout=10).read()
        except urllib.error.HTTPError as error:
            if error.code not in (404, 500):
                raise


def check_gunicorn(work, prometheus):
    pod = Pod('local', work)
    try:
        prometheus.start(pod)
        logs = lambda: podman('logs', pod.container('app')).stderr  # noqa: E731
        # max_requests 1000 (+ up to 100 jitter) with 2 workers: about 2,600 requests recycle both,
        # but the kernel need not share connections evenly between them: more, 200 at a time,
        # until two workers were recycled (at most 6,000).
        start = time.monotonic()
        requests = 2600
        traffic(pod, requests)
        marks = re.findall(r'mark-dead pid (\d+) via exporter: removed', logs())
        while len(marks) < 2 and requests < 6000:
            traffic(pod, 200)
            requests += 200
            marks = re.findall(r'mark-dead pid (\d+) via exporter: removed', logs())
        print(f'    {requests} requests in {time.monotonic() - start:.1f}s; child_exit marked pids {", ".join(marks)} dead through the exporter')
        if len(marks) < 2:
            fail(f'expected worker recycling with mark-dead through the exporter; app log:\n{logs()[-2000:]}')
        if 'falling back' in logs():
            fail('a mark-dead call fell back to mark_process_dead (the exporter refused or was unreachable)')
        samples = pod.assert_equal_to_python('after recycling')
        if value(samples, 'app_worker_processes') != 2.0:
            fail(f'live workers gauge is {value(samples, "app_worker_processes")}, not 2 (dead workers\' livesum files left?)')
        for pid in marks:
            if os.path.exists(os.path.join(pod.empty_dir(), f'gauge_livesum_{pid}.db')):
                fail(f'gauge_livesum_{pid}.db is still in the emptyDir after mark-dead')
        print('    app_worker_processes 2: the recycled workers\' live gauges are gone')
        prometheus.scraped(pod)
    finally:
        pod.down()
    return pod


def check_auto_mark_dead(work, prometheus):
    pod = Pod('local-auto-mark-dead', work)
    try:
        prometheus.set_target(pod)
        traffic(pod, 300)
        headers, _ = pod.get('/')
        victim = headers['X-Worker-Pid']
        before = testkit.samples(pod.metrics(), own=False)
        if value(before, 'app_worker_requests', pid=victim) is None:
            fail(f'no app_worker_requests{{pid="{victim}"}} before the kill')
        podman('exec', pod.container('app'), 'sh', '-c', f'kill -KILL {victim}')
        killed = time.monotonic()
        directory = pod.empty_dir()
        wait_until(f'auto mark-dead removes the live gauges of SIGKILLed pid {victim}',
                   lambda: not any(re.fullmatch(rf'gauge_live\w*_{victim}\.db', f) for f in os.listdir(directory)), 45)
        print(f'    pid {victim} SIGKILLed: its gauge_live*_{victim}.db files removed after {time.monotonic() - killed:.0f}s')
        samples = pod.assert_equal_to_python('after the kill')
        if value(samples, 'app_worker_requests', pid=victim) is not None:
            fail(f'app_worker_requests{{pid="{victim}"}} is still served')
        own = testkit.samples(pod.metrics(), own=True)
        marked = value(own, 'multiproc_exporter_auto_mark_dead_pids_marked_total', reason='exited')
        visible = value(own, 'multiproc_exporter_auto_mark_dead_pids_visible')
        if not marked or visible != 1.0:
            fail(f'auto mark-dead metrics: marked (exited) {marked}, pids visible {visible}')
        print(f'    auto_mark_dead_pids_marked_total{{reason="exited"}} {marked:g}, pids_visible 1')
        prometheus.scraped(pod)
        traffic(pod, 100)
        time.sleep(3)  # a few more scrapes: rates over the kill
    finally:
        pod.down()


# In the app's container: an Info and an Enum written with write_to_textfile into
# $TEXTFILE_DIR, as examples/textfiles/app_info.py does from gunicorn's when_ready.
WRITE_TEXTFILE = ('import os; from prometheus_client import CollectorRegistry, Enum, Info, write_to_textfile; '
                  'r = CollectorRegistry(); Info("app_build", "Build.", registry=r).info({"version": "1.2.3"}); '
                  'Enum("app_mode", "Mode.", states=["serving", "draining"], registry=r).state("serving"); '
                  'write_to_textfile(os.path.join(os.environ["TEXTFILE_DIR"], "app_info.prom"), r)')


def check_textfiles(work):
    pod = Pod('local-textfiles', work)
    try:
        traffic(pod, 50)
        podman('exec', pod.container('app'), 'python3', '-c', WRITE_TEXTFILE)
        wanted = {('app_build_info', (('version', '1.2.3'),)): 1.0,
                  ('app_mode', (('app_mode', 'serving'),)): 1.0, ('app_mode', (('app_mode', 'draining'),)): 0.0}
        wait_until('the textfile written in the app container served by the sidecar',
                   lambda: all(testkit.samples(pod.metrics(), own=False).get(k) == v for k, v in wanted.items()), 20)
        own = testkit.samples(pod.metrics(), own=True)
        if value(own, 'multiproc_exporter_textfile_scrape_error') != 0.0:
            fail(f'textfile_scrape_error {value(own, "multiproc_exporter_textfile_scrape_error")}')
        if value(own, 'multiproc_exporter_textfile_mtime_seconds', file='/run/textfiles/app_info.prom') is None:
            fail('no multiproc_exporter_textfile_mtime_seconds{file="/run/textfiles/app_info.prom"}')
        print('    app_build_info and app_mode (Info, Enum) written by the app container into its emptyDir: served, '
              'textfile_scrape_error 0, mtime of /run/textfiles/app_info.prom')
        pod.assert_equal_to_python('beside the textfile', skip=set(k[0] for k in wanted))
    finally:
        pod.down()


def check_rules_and_dashboard(prometheus):
    step('deploy/prometheus/rules.yml in the real Prometheus')
    groups = prometheus.api('rules')['groups']
    rules = [r for g in groups for r in g['rules']]
    if not rules:
        fail('Prometheus loaded no rules')
    for rule in rules:
        if rule.get('health') != 'ok':
            fail(f'rule {rule["name"]}: health {rule.get("health")}: {rule.get("lastError")}')
    print(f'    {len(rules)} rules loaded, each evaluated without error')
    step('deploy/grafana/multiproc-exporter.json: every query has data over the run')
    with open(os.path.join(ROOT, 'deploy', 'grafana', 'multiproc-exporter.json')) as f:
        dashboard = json.load(f)
    count = 0
    for panel in dashboard['panels']:
        for target in panel.get('targets', []):
            expr = (target['expr'].replace('$__rate_interval', '15s')
                    .replace('=~"$job"', '=~".+"').replace('=~"$instance"', '=~".+"'))
            if '$' in expr.replace('$labels', ''):
                fail(f'panel {panel["title"]}: a variable this test does not substitute: {expr}')
            result = prometheus.api('query_range', query=expr, start=prometheus.started, end=time.time(), step='2')['result']
            if not result:
                fail(f'panel "{panel["title"]}" query {target["refId"]} returns no data: {expr}')
            count += 1
    print(f'    {count} queries of {len([p for p in dashboard["panels"] if p.get("targets")])} panels return data')


def main():
    for tool in ('podman', 'kubectl', 'prometheus', 'openssl'):
        if not shutil.which(tool):
            fail(f'{tool} not found (.ci/run installs it)')
    sys.path.insert(0, os.path.join(ROOT, 'deploy'))
    import kube_play
    kube_play.use_project_podman_settings()
    started = time.monotonic()
    work = tempfile.mkdtemp(prefix='multiproc-kube.')
    prometheus = Prometheus(work)
    try:
        check_image()
        check_gunicorn(work, prometheus)
        check_auto_mark_dead(work, prometheus)
        check_textfiles(work)
        check_rules_and_dashboard(prometheus)
    finally:
        prometheus.stop()
        shutil.rmtree(work, ignore_errors=True)
    print(f'PASS: deploy/check-kube.py in {time.monotonic() - started:.0f}s')


if __name__ == '__main__':
    main()
