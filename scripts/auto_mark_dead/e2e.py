#!/usr/bin/env python3
"""Auto mark-dead end to end (make test-auto-mark-dead): servers without a death hook, the real
exporter with `serve --auto-mark-dead --auto-mark-dead.interval 200ms`, checked against the
real Python client.

  uwsgi      a real uWSGI (examples/uwsgi: processes = 3, max-requests = 20, no hook) under
             360 requests: live gauges equal the live workers' within two intervals after the
             traffic, every counter equals Python's MultiProcessCollector over the same
             directory (and 360 requests are counted), promtool check metrics passes
  sigkill    a pre-fork master SIGKILLs and replaces a worker every 0.4 s (15 forks): livesum
             settles at 3 and liveall at the 3 workers + master, counters equal Python's
  stopped    the same app, then its master SIGKILLs the last workers and exits: nothing of it
             is visible any more, yet within three intervals livesum is 0 and no liveall series
             is left (the exporter saw those writers alive); counters stay
  reuse      (root) pid reuse made real in a pid namespace, also of pids remembered across
             `mark-dead --auto` runs: see reuse_in_namespace.py
  namespace  (root) the exporter in its own pid namespace (unshare --pid --fork --mount-proc)
             next to live and dead writers: reports pids_visible 0, logs one warning, marks nothing,
             also a writer that `mark-dead --auto` saw alive from the host before it died (the
             sightings in multiproc-exporter.writers are the host's namespace's); the host's next
             `mark-dead --auto` does mark that one

Throughout uwsgi and sigkill a watcher lists the directory every 20 ms and fails the test if a
file that a live process maps disappears: not one live worker's file may ever be removed.

usage: scripts/auto_mark_dead/e2e.py --binary .build/debug/multiproc-exporter [--only uwsgi,...]
"""
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
import testkit  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
INTERVAL = 0.2
# "Within two intervals": two checks must agree, then one scrape; slack for a debug build
# sharing two cores with uWSGI.
SETTLE_DEADLINE = 2 * INTERVAL + 2.0


Failure = testkit.Failure
wait_until = testkit.wait_until
_stop_group = testkit.stop_group


free_port = testkit.free_port


def samples(text, own=False):
    """{(name, labels): value} of an exposition; the exporter's own families only if `own`."""
    return testkit.samples(text, own=own)


python_view = testkit.python_samples


def Exporter(binary, directory, work, wrap=(), interval=INTERVAL):
    """`serve --auto-mark-dead` every `interval` seconds."""
    return testkit.ServeProcess(binary, directory, work, wrap=wrap,
                                args=('--auto-mark-dead', '--auto-mark-dead.interval', f'{int(interval * 1000)}ms'))


class LiveFileWatcher(threading.Thread):
    """Fails if a file that a live process maps disappears from the directory."""

    def __init__(self, directory):
        super().__init__(daemon=True)
        self.directory = directory
        self.mapped = {}  # (pid, start ticks) -> names it mapped
        self.violations = []
        self.rounds = 0
        self.running = True

    @staticmethod
    def incarnation(pid):
        try:
            with open(f'/proc/{pid}/stat') as f:
                fields = f.read().rsplit(')', 1)[1].split()
        except OSError:
            return None
        return None if fields[0] in 'ZX' else (pid, fields[19])

    def mapped_names(self, pid):
        try:
            with open(f'/proc/{pid}/maps') as f:
                return {line.split()[-1].rsplit('/', 1)[1] for line in f
                        if line.rstrip().endswith('.db') and self.directory in line and '(deleted)' not in line}
        except OSError:
            return set()

    def run(self):
        while self.running:
            pids = {int(m.group(1)) for name in os.listdir(self.directory) for m in [re.search(r'_(\d+)\.db$', name)] if m}
            before = {p: self.incarnation(p) for p in pids | {k[0] for k in self.mapped}}
            names = set(os.listdir(self.directory))
            for pid, who in before.items():
                if who is None or self.incarnation(pid) != who:
                    continue  # gone or replaced: its files may go
                for name in self.mapped.get(who, set()) - names:
                    self.violations.append(f'{name} removed while pid {pid} (alive) maps it')
                self.mapped.setdefault(who, set()).update(self.mapped_names(pid))
            self.rounds += 1
            time.sleep(0.02)

    def finish(self):
        self.running = False
        self.join()
        if self.violations:
            raise Failure('live files removed: ' + '; '.join(sorted(set(self.violations))[:10]))
        if self.rounds < 10:
            raise Failure(f'the watcher looked only {self.rounds} times')
        return self.rounds


def live_gauges_settle(exporter, directory, live_pids, livesum_name, liveall_name, deadline=SETTLE_DEADLINE):
    """Waits until the exporter's livesum and liveall gauges are those of `live_pids()` only."""
    def settled():
        live = live_pids()
        text = exporter.scrape()
        got = samples(text)
        python = python_view(directory)  # the same directory, what Python serves
        expected_sum = sum(v for (n, l), v in python.items() if n == livesum_name)
        liveall_pids = {dict(l)['pid'] for (n, l) in got if n == liveall_name}
        names = set(os.listdir(directory))
        # Live processes that wrote their gauges (a worker that has not served yet has none);
        # each worker sets the livesum gauge to 1, the master defines it at 0.
        want_pids = {str(p) for p in live if f'gauge_liveall_{p}.db' in names}
        writers = sum(1 for p in live[1:] if f'gauge_livesum_{p}.db' in names)
        ok = liveall_pids == want_pids and got.get((livesum_name, ())) == expected_sum == float(writers)
        return ok, f'liveall pids {sorted(liveall_pids)} vs live {sorted(want_pids)}, livesum {got.get((livesum_name, ()))} (python {expected_sum})'
    start = time.time()
    wait_until('live gauges settle', settled, deadline)
    return time.time() - start


def children(pid):
    """Live children: a zombie (exited, not reaped yet) is listed too, but is dead."""
    try:
        with open(f'/proc/{pid}/task/{pid}/children') as f:
            pids = [int(p) for p in f.read().split()]
    except OSError:
        return []
    return [p for p in pids if LiveFileWatcher.incarnation(p) is not None]


def counters_match(exporter, directory, names):
    got, python = samples(exporter.scrape()), python_view(directory)
    diff = {k: (got.get(k), python.get(k)) for k in set(got) | set(python)
            if k[0] in names and got.get(k) != python.get(k)}
    if diff:
        raise Failure(f'counters differ from Python: {diff}')


def own(exporter):
    return samples(exporter.scrape(), own=True)


def promtool_check(exporter):
    if not shutil.which('promtool'):
        print('    (promtool not installed: skipped)')
        return
    run = subprocess.run(['promtool', 'check', 'metrics'], input=exporter.scrape(), capture_output=True, text=True)
    if run.returncode != 0:
        raise Failure(f'promtool check metrics: {run.stdout}{run.stderr}')


# MARK: scenarios

def scenario_uwsgi(binary, work):
    uwsgi = shutil.which('uwsgi')
    if not uwsgi:
        raise Failure('uwsgi not found: apt-get install uwsgi-core uwsgi-plugin-python3 (make deps-auto-mark-dead)')
    directory = tempfile.mkdtemp(prefix='uwsgi-', dir='/dev/shm')
    exporter = Exporter(binary, directory, work)
    watcher = LiveFileWatcher(directory)
    watcher.start()
    port = free_port()
    import prometheus_client
    site = os.path.dirname(os.path.dirname(prometheus_client.__file__))
    log = open(os.path.join(work, 'uwsgi.log'), 'w')
    env = dict(os.environ, PROMETHEUS_MULTIPROC_DIR=directory, APP_LISTEN=f'127.0.0.1:{port}')
    app_dir = os.path.join(ROOT, 'examples', 'uwsgi')
    # The example's uwsgi.ini, recycling every worker after 20 requests, at once (uWSGI's
    # default waits 60 s).
    master = subprocess.Popen([uwsgi, '--ini', os.path.join(app_dir, 'uwsgi.ini'), '--chdir', app_dir,
                               '--max-requests', '20', '--min-worker-lifetime', '0', '--pythonpath', site],
                              env=env, stdout=log, stderr=log, start_new_session=True)
    try:
        def get(path):
            try:
                with urllib.request.urlopen(f'http://127.0.0.1:{port}{path}', timeout=10) as r:
                    return r.headers['X-Worker-Pid']
            except urllib.error.HTTPError as answer:  # /error and /missing: 500 and 404
                return answer.headers['X-Worker-Pid']
        wait_until('uWSGI answers', lambda: (_try(get, '/'), 'no answer'), 20)
        paths = ['/', '/items', '/error', '/missing']

        def paced(i):
            # About 33 requests a second: a worker then lives about two seconds (20 requests),
            # as uWSGI wants ("worker respawning too fast" otherwise sleeps 2 s).
            time.sleep(0.12)
            return _try(get, paths[i % 4]) or _retry(get, paths[i % 4])
        with ThreadPoolExecutor(4) as pool:
            served_by = set(pool.map(paced, range(359)))
        requests = 360
        live_pids = lambda: [master.pid] + children(master.pid)
        latency = live_gauges_settle(exporter, directory, live_pids, 'app_worker_processes', 'app_worker_requests')
        counters_match(exporter, directory, {'app_requests_total', 'app_request_duration_seconds_count',
                                             'app_request_duration_seconds_bucket'})
        total = sum(v for (n, _), v in samples(exporter.scrape()).items() if n == 'app_requests_total')
        if total != requests:
            raise Failure(f'app_requests_total sums to {total}, {requests} requests were made')
        def all_dead_marked():
            # A worker can still exit now (a recycle at the very end): wait for its mark too.
            mine = own(exporter)
            marked = sum(v for (n, _), v in mine.items() if n == 'multiproc_exporter_auto_mark_dead_pids_marked_total')
            with_files = {int(m.group(1)) for n in os.listdir(directory) for m in [re.search(r'_(\d+)\.db$', n)] if m}
            dead = len(with_files - set(live_pids()))
            visible = mine[('multiproc_exporter_auto_mark_dead_pids_visible', ())]
            return marked == dead and visible == 1, (mine, marked, dead, f'marked {marked} for {dead} dead workers; visible {visible}')
        mine, marked, dead_pids, _ = wait_until('every dead worker marked', all_dead_marked, SETTLE_DEADLINE)
        promtool_check(exporter)
        rounds = watcher.finish()
        return (f'{requests} requests, {len(served_by)} worker pids served, {dead_pids} recycled workers marked dead '
                f'({marked:.0f} marks: {_reasons(mine)}), live gauges settled {latency:.2f}s after the traffic, watcher {rounds} rounds')
    finally:
        watcher.running = False
        _stop_group(master)
        exporter.stop()
        shutil.rmtree(directory, ignore_errors=True)


def _reasons(mine):
    return ', '.join(f'{dict(l)["reason"]} {v:.0f}' for (n, l), v in sorted(mine.items())
                     if n == 'multiproc_exporter_auto_mark_dead_pids_marked_total' and v)


def _try(get, path):
    try:
        return get(path)
    except OSError:
        return None


def _retry(get, path):
    """A request that met a recycling worker's closing socket: once more."""
    time.sleep(0.05)
    return get(path)


class PreforkApp:
    """prefork_kill.py with FORKS forks in a fresh directory, the exporter (checking every
    `interval`) and a LiveFileWatcher beside it; ready once the master printed `done` (`workers`
    are its last ones). `close()` stops and removes everything."""

    def __init__(self, binary, work, prefix, forks, interval=INTERVAL):
        self.directory = tempfile.mkdtemp(prefix=prefix, dir='/dev/shm')
        self.exporter = Exporter(binary, self.directory, work, interval=interval)
        self.watcher = LiveFileWatcher(self.directory)
        self.watcher.start()
        env = dict(os.environ, PROMETHEUS_MULTIPROC_DIR=self.directory)
        self.master = subprocess.Popen([sys.executable, os.path.join(HERE, 'prefork_kill.py'), str(forks)], env=env,
                                       stdout=subprocess.PIPE, text=True, start_new_session=True)
        line = self.master.stdout.readline().split()
        if not line or line[0] != 'done':
            self.close()
            raise Failure(f'prefork_kill.py said {line}')
        self.workers = [int(p) for p in line[1:]]

    def live_pids(self):
        return [self.master.pid] + self.workers

    def close(self):
        self.watcher.running = False
        _stop_group(self.master)
        self.exporter.stop()
        shutil.rmtree(self.directory, ignore_errors=True)


def scenario_sigkill(binary, work):
    app = PreforkApp(binary, work, 'sigkill-', 15)
    exporter, directory, master, watcher = app.exporter, app.directory, app.master, app.watcher
    try:
        latency = live_gauges_settle(exporter, directory, app.live_pids, 'workers_busy', 'worker_jobs')
        os.kill(master.pid, signal.SIGUSR1)  # workers stop writing: counters can be compared
        if master.stdout.readline().strip() != 'quiet':
            raise Failure('prefork_kill.py did not go quiet')
        time.sleep(0.05)
        counters_match(exporter, directory, {'jobs_total'})
        mine = own(exporter)
        marked = mine[('multiproc_exporter_auto_mark_dead_pids_marked_total', (('reason', 'exited'),))]
        if marked != 12:
            raise Failure(f'{marked} pids marked dead, 12 workers were killed')
        rounds = watcher.finish()
        return f'15 forks, 12 SIGKILLed workers marked dead, live gauges settled {latency:.2f}s after the last kill, watcher {rounds} rounds'
    finally:
        app.close()


def scenario_stopped(binary, work, interval=2.0):
    # A longer interval than the other scenarios: "within three intervals" is two checks after
    # the exit plus the check times, which a debug build on two busy cores stretches.
    app = PreforkApp(binary, work, 'stopped-', 6, interval=interval)
    exporter, directory, master, watcher = app.exporter, app.directory, app.master, app.watcher
    try:
        live_gauges_settle(exporter, directory, app.live_pids, 'workers_busy', 'worker_jobs', deadline=2 * interval + 2.0)
        jobs_before = samples(exporter.scrape()).get(('jobs_total', ()))
        # The app stops: the master SIGKILLs its workers and exits. No process of it is left
        # to see, so only what the exporter saw of them can tell they are dead.
        master.terminate()
        master.wait(10)
        stopped = time.time()

        def gone():
            # Every live gauge file removed: the livesum family has no file left, so it has no
            # series (as Python serves the same directory), which sums to 0.
            got = samples(exporter.scrape())
            liveall = sorted(dict(l)['pid'] for (n, l) in got if n == 'worker_jobs')
            busy = got.get(('workers_busy', ()), 0.0)
            return busy == 0 and not liveall, f'workers_busy {busy}, liveall pids {liveall}'
        wait_until('live gauges of the stopped app gone', gone, 3 * interval)
        took = time.time() - stopped
        got, mine = samples(exporter.scrape()), own(exporter)
        if got.get(('jobs_total', ())) is None or got[('jobs_total', ())] < jobs_before:
            raise Failure(f'jobs_total went from {jobs_before} to {got.get(("jobs_total", ()))}')
        counters_match(exporter, directory, {'jobs_total', 'workers_busy', 'worker_jobs'})
        if mine[('multiproc_exporter_auto_mark_dead_pids_visible', ())] != 0:
            raise Failure('pids_visible is not 0 with no process of the app left')
        rounds = watcher.finish()
        return (f'3 workers and the master seen, then stopped: live gauges gone {took:.2f}s after the master exited '
                f'(interval {interval}s), jobs_total kept at {got[("jobs_total", ())]:.0f}, watcher {rounds} rounds')
    finally:
        app.close()


def scenario_reuse(binary, work):
    directory = tempfile.mkdtemp(prefix='reuse-', dir='/dev/shm')
    try:
        run = subprocess.run(['unshare', '--pid', '--fork', '--mount-proc', sys.executable,
                              os.path.join(HERE, 'reuse_in_namespace.py'), binary, directory],
                             capture_output=True, text=True, timeout=120)
        if run.returncode != 0:
            raise Failure(f'reuse_in_namespace.py: {run.stdout}{run.stderr}')
        return ('exited, zombie and reused (a sleep took the pid) marked dead; taken over (a new worker maps the files) and live '
                'untouched; then, remembered across runs: a pid seen written and reused by a new worker untouched, the app '
                'stopped: its last writer marked')
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def scenario_namespace(binary, work):
    directory = tempfile.mkdtemp(prefix='namespace-', dir='/dev/shm')
    env = dict(os.environ, PROMETHEUS_MULTIPROC_DIR=directory)
    writer = 'from prometheus_client import Counter, Gauge; import sys, time; Counter("jobs", "j").inc(); ' \
             'Gauge("busy", "b", multiprocess_mode="livesum").set(1); time.sleep(float(sys.argv[1]))'
    subprocess.run([sys.executable, '-c', writer, '0'], env=env, check=True)  # a dead writer
    live = subprocess.Popen([sys.executable, '-c', writer, '120'], env=env)
    def host_mark_dead():
        return subprocess.run([binary, 'mark-dead', '--auto', '--auto.confirm-after', '300ms', '--multiproc-dir', directory],
                              capture_output=True, text=True, timeout=60)
    try:
        wait_until('the live writer wrote', lambda: (f'gauge_livesum_{live.pid}.db' in os.listdir(directory), ''), 10)
        # Seen from the host (where it runs): recorded in multiproc-exporter.writers. Then it dies.
        seen = host_mark_dead()
        if seen.returncode != 0 or 'multiproc-exporter.writers' not in os.listdir(directory):
            raise Failure(f'mark-dead --auto on the host: {seen.returncode} {seen.stdout}{seen.stderr}')
        live.kill()
        live.wait()
        before = sorted(os.listdir(directory))
        exporter = Exporter(binary, directory, work, wrap=('unshare', '--pid', '--fork', '--mount-proc'))
        try:
            time.sleep(8 * INTERVAL)
            mine = own(exporter)
            after = sorted(os.listdir(directory))
            marked = sum(v for (n, _), v in mine.items() if n == 'multiproc_exporter_auto_mark_dead_pids_marked_total')
            not_visible = mine[('multiproc_exporter_auto_mark_dead_pids_skipped_total', (('reason', 'not_visible'),))]
            warnings = exporter.log().count('auto mark-dead: none of the pids')
            problems = []
            if after != before:
                problems.append(f'files changed: {before} -> {after}')
            if mine[('multiproc_exporter_auto_mark_dead_pids_visible', ())] != 0:
                problems.append('pids_visible is not 0')
            if marked != 0 or not_visible < 2:
                problems.append(f'marked {marked}, skipped not_visible {not_visible}')
            if warnings != 1:
                problems.append(f'{warnings} visibility warnings logged, expected exactly 1')
            if problems:
                raise Failure('; '.join(problems))
        finally:
            exporter.stop()
        marked = host_mark_dead()
        if marked.returncode != 0 or f'marked pid {live.pid} dead (exited)' not in marked.stdout \
                or f'gauge_livesum_{live.pid}.db' in os.listdir(directory):
            raise Failure(f'the host did not mark the writer it saw: {marked.returncode} {marked.stdout}{marked.stderr}')
        return (f'in its own pid namespace: pids_visible 0, {not_visible:.0f} not_visible skips, nothing marked (not even the '
                f'writer the host saw), one warning; the host marks it')
    finally:
        live.kill()
        live.wait()
        shutil.rmtree(directory, ignore_errors=True)


SCENARIOS = {'uwsgi': scenario_uwsgi, 'sigkill': scenario_sigkill, 'stopped': scenario_stopped, 'reuse': scenario_reuse,
             'namespace': scenario_namespace}
NEEDS_ROOT = {'reuse', 'namespace'}


def main():
    testkit.run_scenarios('auto mark-dead', __doc__.split('\n\n')[0], SCENARIOS, NEEDS_ROOT,
                          os.path.join(ROOT, '.build/debug/multiproc-exporter'))


if __name__ == '__main__':
    main()
