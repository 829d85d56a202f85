#!/usr/bin/env python3
"""The workers collector end to end (make test-workers): the real exporter (`serve`, the
collector on by default) next to real servers, every number checked against /proc.

  gunicorn   3 sync workers recycled every 8 requests (max_requests), requests that burn CPU
             (burn_app.py), a scrape every 50 ms: multiproc_workers_cpu_seconds_total and
             multiproc_worker_exits_total never decrease; at quiet moments each worker's
             CPU, memory, descriptors, threads and start time equal /proc/<pid>/stat|status|fd|
             limits within a tick, the all-workers CPU equals the arbiter's cutime+cstime plus
             the live workers' (own and reaped children) within a tick each, the arbiter is the
             one parent; every worker is recycled several times and every exit is counted;
             promtool check metrics has nothing to say about these families
  uwsgi      uWSGI's master (examples/uwsgi, processes = 3, max-requests) is the parent, its
             workers the workers, exits counted, the total equals the master's cutime+cstime
             plus the live workers'
  sigkill    a pre-fork master that SIGKILLs and reaps a worker every 0.4 s
             (auto_mark_dead/prefork_kill.py): the master, which writes metrics too, is the
             parent, not a worker; 12 exits; the 3 last workers
  user       (root) the writers run as nobody (forked from a root master, then setuid, as
             gunicorn --user does), the exporter as daemon: their maps and smaps_rollup cannot be
             read, so no proportional memory and permission_denied counted, the rest served
  hidepid    (root) the exporter as daemon with /proc mounted hidepid=invisible: the app is
             hidden, nothing is served, one log line, hidden and not_visible counted
  namespace  (root) the exporter in its own pid namespace: nothing served, one log line

usage: scripts/workers/e2e.py --binary .build/debug/multiproc-exporter [--only gunicorn,...]
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
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
import testkit  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
TICKS = os.sysconf('SC_CLK_TCK')
PAGE = os.sysconf('SC_PAGESIZE')


Failure = testkit.Failure
wait_until = testkit.wait_until
stop_group = testkit.stop_group


# MARK: the kernel's side

def stat(pid):
    """/proc/<pid>/stat fields after the comm, as ints where they are numbers (index n = field n + 3)."""
    with open(f'/proc/{pid}/stat') as f:
        fields = f.read().rsplit(')', 1)[1].split()
    return [fields[0]] + [int(x) for x in fields[1:]]


def times(pid):
    """(utime, stime, cutime, cstime) in ticks."""
    s = stat(pid)
    return s[11], s[12], s[13], s[14]


def btime():
    with open('/proc/stat') as f:
        return next(int(line.split()[1]) for line in f if line.startswith('btime '))


def soft_limit(pid):
    with open(f'/proc/{pid}/limits') as f:
        return float(next(line for line in f if line.startswith('Max open files')).split()[3])


def threads(pid):
    with open(f'/proc/{pid}/status') as f:
        return int(next(line for line in f if line.startswith('Threads:')).split()[1])


def writers(pids, directory):
    """Those of `pids` that have metric files: a uWSGI worker that served nothing yet has none
    (the app was loaded in the master), and is no worker of the directory yet."""
    names = os.listdir(directory)
    return [p for p in pids if any(n.endswith(f'_{p}.db') for n in names)]


def children(pid):
    """Live (not zombie) children of `pid`, from every process's stat."""
    found = []
    for name in os.listdir('/proc'):
        if name.isdigit():
            try:
                s = stat(int(name))
            except OSError:
                continue
            if s[1] == pid and s[0] not in 'ZX':
                found.append(int(name))
    return sorted(found)


# MARK: the exporter

def Exporter(binary, directory, work, args=(), wrap=()):
    """`serve` with its defaults: the workers collector on."""
    return testkit.ServeProcess(binary, directory, work, args=args, wrap=wrap)


def value(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))))


def pids_of(samples, name):
    return sorted(int(dict(labels)['pid']) for (n, labels) in samples if n == name and dict(labels).get('mode', 'user') == 'user')


def cpu_total(samples, name='multiproc_workers_cpu_seconds_total'):
    return value(samples, name, mode='user'), value(samples, name, mode='system')


class Watcher(threading.Thread):
    """Scrapes every 50 ms; records any decrease of the all-workers CPU or of the exits."""

    def __init__(self, exporter):
        super().__init__(daemon=True)
        self.exporter = exporter
        self.running = True
        self.scrapes = 0
        self.decreases = []
        self.worker_pids = set()

    def run(self):
        last = None
        while self.running:
            try:
                got = self.exporter.samples()
            except OSError:
                continue
            now = (*cpu_total(got), value(got, 'multiproc_worker_exits_total'))
            self.worker_pids.update(pids_of(got, 'multiproc_worker_cpu_seconds_total'))
            if last and None not in now:
                for what, a, b in zip(('user', 'system', 'exits'), last, now):
                    if b < a:
                        self.decreases.append(f'{what} {a} -> {b} at scrape {self.scrapes}')
            if None not in now:
                last = now
            self.scrapes += 1
            time.sleep(0.05)

    def finish(self, minimum):
        self.running = False
        self.join()
        if self.decreases:
            raise Failure('decreased: ' + '; '.join(self.decreases[:5]))
        if self.scrapes < minimum:
            raise Failure(f'only {self.scrapes} scrapes watched')
        return self.scrapes


def kernel_values(pid, boot):
    """What the exporter should serve for `pid`, read from /proc: {(measure, mode): value}."""
    u, s = times(pid)[:2]
    k = stat(pid)
    return {
        ('cpu_seconds_total', 'user'): u / TICKS, ('cpu_seconds_total', 'system'): s / TICKS,
        ('resident_memory_bytes', None): k[21] * PAGE, ('virtual_memory_bytes', None): k[20],
        ('open_fds', None): len(os.listdir(f'/proc/{pid}/fd')), ('max_fds', None): soft_limit(pid),
        ('threads', None): threads(pid), ('start_time_seconds', None): boot + k[19] / TICKS,
    }


def check_against_proc(exporter, parent, role='worker'):
    """At a quiet moment: every live worker's values against /proc, read just before and just
    after the scrape (a value may move between two reads: it must lie between them, within a
    tick for CPU); the all-workers CPU against the parent's cutime/cstime plus the live workers'
    (own and reaped children), within a tick per process."""
    workers = pids_of(exporter.samples(), f'multiproc_{role}_cpu_seconds_total')
    boot = btime()
    before = {pid: kernel_values(pid, boot) for pid in workers}
    got = exporter.samples()
    after = {pid: kernel_values(pid, boot) for pid in workers}
    problems = []
    if pids_of(got, f'multiproc_{role}_cpu_seconds_total') != workers:
        problems.append(f'workers changed during the check: {workers} -> {pids_of(got, f"multiproc_{role}_cpu_seconds_total")}')
    total = [0, 0]
    for pid in workers:
        u, s, cu, cs = times(pid)
        total[0] += u + cu
        total[1] += s + cs
        for (measure, mode), low in before[pid].items():
            high = after[pid][(measure, mode)]
            labels = {'pid': str(pid), **({'mode': mode} if mode else {})}
            have = value(got, f'multiproc_{role}_{measure}', **labels)
            slack = {'cpu_seconds_total': 1 / TICKS, 'resident_memory_bytes': 64 * PAGE}.get(measure, 0) + 1e-9
            if have is None or not min(low, high) - slack <= have <= max(low, high) + slack:
                problems.append(f'{measure}{labels}: exporter {have}, /proc {low} before and {high} after')
    pu, ps, pcu, pcs = times(parent)
    expected = ((pcu + total[0]) / TICKS, (pcs + total[1]) / TICKS)
    have = cpu_total(got)
    slack = (len(workers) + 1) / TICKS
    if any(abs(h - e) > slack + 1e-9 for h, e in zip(have, expected)):
        problems.append(f'all-workers CPU {have} != parent cutime/cstime + live workers {expected}')
    if pids_of(got, 'multiproc_parent_cpu_seconds_total') != [parent]:
        problems.append(f'parents {pids_of(got, "multiproc_parent_cpu_seconds_total")}, want [{parent}]')
    parent_cpu = (value(got, 'multiproc_parent_cpu_seconds_total', pid=str(parent), mode='user'),
                  value(got, 'multiproc_parent_cpu_seconds_total', pid=str(parent), mode='system'))
    if any(abs(h - w / TICKS) > 1 / TICKS + 1e-9 for h, w in zip(parent_cpu, (pu, ps))):
        problems.append(f'parent CPU {parent_cpu}, /proc {(pu / TICKS, ps / TICKS)}')
    if problems:
        raise Failure('; '.join(problems[:8]))
    return got, workers


def quiet_check(exporter, arbiter, count=3, attempts=5):
    """check_against_proc at a quiet moment: the `count` workers booted and wrote, nobody
    serves, and the arbiter's children are the workers served. The last request of a burst
    may recycle a worker (`max_requests`) just then, and its successor is served only once it
    writes: a check during which the arbiter's children changed, or that saw a worker not yet
    writing, is tried again (the last attempt must pass); values wrong while the children
    stood still fail at once."""
    for attempt in range(attempts):
        wait_until(f'{count} workers', lambda: (len(pids_of(exporter.samples(), 'multiproc_worker_cpu_seconds_total')) == count
                                                and len(children(arbiter)) == count, children(arbiter)), 10)
        before = children(arbiter)
        try:
            got, workers = check_against_proc(exporter, arbiter)
            failure = None if workers == before else Failure(f'workers {workers}, arbiter children {before}')
        except (Failure, OSError) as error:  # OSError: a worker's /proc entry gone while read
            failure = error
        if failure is None:
            return got, workers
        stood_still = children(arbiter) == before and len(before) == count
        if attempt == attempts - 1 or (stood_still and isinstance(failure, Failure) and not str(failure).startswith('workers ')):
            raise failure if isinstance(failure, Failure) else Failure(f'{failure!r}')
        print(f'    (a worker recycled or not yet writing during a check: checked again; {failure})')
        time.sleep(0.3)


def promtool_check(exporter):
    if not shutil.which('promtool'):
        print('    (promtool not installed: skipped)')
        return
    run = subprocess.run(['promtool', 'check', 'metrics'], input=exporter.scrape(), capture_output=True, text=True)
    if re.search(r'multiproc_worker|multiproc_parent|multiproc_exporter_workers', run.stdout + run.stderr):
        raise Failure(f'promtool check metrics: {run.stdout}{run.stderr}')


def get(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.read()


# MARK: scenarios

def scenario_gunicorn(binary, work):
    directory = tempfile.mkdtemp(prefix='workers-gunicorn-', dir='/dev/shm')
    port = testkit.free_port()
    log_path = os.path.join(work, 'gunicorn.log')
    env = dict(os.environ, PROMETHEUS_MULTIPROC_DIR=directory)
    arbiter = subprocess.Popen([sys.executable, '-m', 'gunicorn', '--workers', '3', '--max-requests', '8', '--bind', f'127.0.0.1:{port}',
                                '--chdir', HERE, 'burn_app:app'],
                               env=env, stdout=open(log_path, 'w'), stderr=subprocess.STDOUT, start_new_session=True)
    exporter = Exporter(binary, directory, work, args=('--collector.workers.pss-interval', '500ms'))
    watcher = Watcher(exporter)
    try:
        wait_until('gunicorn answers', lambda: (_answers(f'http://127.0.0.1:{port}/'), 'no answer'), 30)
        watcher.start()
        originals = children(arbiter.pid)
        requests, burnt = 0, 0.0
        for burst in range(4):
            for _ in range(42):
                get(f'http://127.0.0.1:{port}/burn?ms=15')
                requests += 1
                burnt += 0.015
            got, workers = quiet_check(exporter, arbiter.pid)
        def booted_now():
            return [int(p) for p in re.findall(r'Booting worker with pid: (\d+)', open(log_path).read())]
        if set(originals) & set(children(arbiter.pid)):
            raise Failure(f'an original worker was never recycled: {originals}')
        # The log is read again with each scrape: the burst's last request may still recycle a
        # worker, whose boot the log then shows a moment later.
        exits, booted = wait_until('every exit counted', lambda: (lambda counted, now: (counted == len(now) - 3, (counted, now)))(
            value(exporter.samples(), 'multiproc_worker_exits_total'), booted_now()), 5)
        if len(booted) - 3 < 3 * 3:
            raise Failure(f'only {len(booted) - 3} recycles: each worker should be recycled several times')
        got = exporter.samples()
        user, system = cpu_total(got)
        if user + system < burnt * 0.9:
            raise Failure(f'all-workers CPU {user + system:.2f}s for {burnt:.2f}s burnt')
        pss = [value(got, 'multiproc_worker_proportional_memory_bytes', pid=str(p)) for p in children(arbiter.pid)]
        wait_until('proportional memory of every worker', lambda: (lambda now: (all(
            (value(now, 'multiproc_worker_proportional_memory_bytes', pid=str(p)) or 0) > 0
            for p in children(arbiter.pid)), pss))(exporter.samples()), 5)
        promtool_check(exporter)
        scrapes = watcher.finish(minimum=20)
        return (f'{requests} requests, {len(booted)} workers booted, {exits:.0f} exits counted, all-workers CPU '
                f'{user + system:.2f}s for {burnt:.2f}s burnt, {scrapes} scrapes never decreasing, 4 checks against /proc')
    finally:
        watcher.running = False
        stop_group(arbiter)
        exporter.stop()
        shutil.rmtree(directory, ignore_errors=True)


def _answers(url):
    try:
        get(url)
        return True
    except OSError:
        return False


def scenario_uwsgi(binary, work):
    uwsgi = shutil.which('uwsgi')
    if not uwsgi:
        raise Failure('uwsgi not found: apt-get install uwsgi-core uwsgi-plugin-python3 (make deps-auto-mark-dead)')
    directory = tempfile.mkdtemp(prefix='workers-uwsgi-', dir='/dev/shm')
    port = testkit.free_port()
    import prometheus_client
    site = os.path.dirname(os.path.dirname(prometheus_client.__file__))
    env = dict(os.environ, PROMETHEUS_MULTIPROC_DIR=directory, APP_LISTEN=f'127.0.0.1:{port}')
    app_dir = os.path.join(ROOT, 'examples', 'uwsgi')
    master = subprocess.Popen([uwsgi, '--ini', os.path.join(app_dir, 'uwsgi.ini'), '--chdir', app_dir,
                               '--max-requests', '10', '--min-worker-lifetime', '0', '--pythonpath', site],
                              env=env, stdout=open(os.path.join(work, 'uwsgi.log'), 'w'), stderr=subprocess.STDOUT,
                              start_new_session=True)
    exporter = Exporter(binary, directory, work)
    watcher = Watcher(exporter)
    try:
        wait_until('uWSGI answers', lambda: (_answers(f'http://127.0.0.1:{port}/'), 'no answer'), 30)
        watcher.start()  # exits are counted from the exporter's first look on
        for i in range(60):
            time.sleep(0.07)  # uWSGI wants workers to live a while ("respawning too fast")
            _answers(f'http://127.0.0.1:{port}/items')
        def settled():
            got = exporter.samples()
            served = pids_of(got, 'multiproc_worker_cpu_seconds_total')
            live = writers(children(master.pid), directory)
            exits = value(got, 'multiproc_worker_exits_total')
            return served == live and len(children(master.pid)) == 3 and exits >= 2, (served, live, exits)
        wait_until('recycled workers gone, the live ones that wrote served', settled, 15)
        got, workers = check_against_proc(exporter, master.pid)
        exits = value(got, 'multiproc_worker_exits_total')
        if value(got, 'multiproc_parents') != 1:
            raise Failure(f'multiproc_parents {value(got, "multiproc_parents")}')
        scrapes = watcher.finish(minimum=20)
        return (f'master {master.pid} the parent, workers {workers}, {exits:.0f} exits, the total equals its cutime + the '
                f'workers\', {scrapes} scrapes never decreasing')
    finally:
        watcher.running = False
        stop_group(master)
        exporter.stop()
        shutil.rmtree(directory, ignore_errors=True)


def scenario_sigkill(binary, work):
    directory = tempfile.mkdtemp(prefix='workers-sigkill-', dir='/dev/shm')
    exporter = Exporter(binary, directory, work)
    env = dict(os.environ, PROMETHEUS_MULTIPROC_DIR=directory)
    master = subprocess.Popen([sys.executable, os.path.join(ROOT, 'scripts', 'auto_mark_dead', 'prefork_kill.py'), '15'], env=env,
                              stdout=subprocess.PIPE, text=True, start_new_session=True)
    watcher = Watcher(exporter)
    watcher.start()
    try:
        line = master.stdout.readline().split()
        if not line or line[0] != 'done':
            raise Failure(f'prefork_kill.py said {line}')
        workers = sorted(int(p) for p in line[1:])
        # A worker is one once it wrote: the last one forked must have, before they all stop.
        wait_until('the 3 last workers wrote', lambda: (writers(workers, directory) == workers, writers(workers, directory)), 10)
        os.kill(master.pid, signal.SIGUSR1)  # workers stop writing and spinning
        if master.stdout.readline().strip() != 'quiet':
            raise Failure('prefork_kill.py did not go quiet')
        wait_until('12 exits and the 3 last workers', lambda: (
            (lambda g: (value(g, 'multiproc_worker_exits_total') == 12 and pids_of(g, 'multiproc_worker_cpu_seconds_total') == workers, g))
            (exporter.samples())), 10)
        got, _ = check_against_proc(exporter, master.pid)
        if value(got, 'multiproc_worker_cpu_seconds_total', pid=str(master.pid), mode='user') is not None:
            raise Failure('the master, which writes metrics too, is served as a worker')
        scrapes = watcher.finish(minimum=10)
        return f'the master (a writer) is the parent, 12 SIGKILLed workers counted, the 3 last served, {scrapes} scrapes never decreasing'
    finally:
        watcher.running = False
        stop_group(master)
        exporter.stop()
        shutil.rmtree(directory, ignore_errors=True)


# Run as root: forks workers that become nobody before they touch a metric (gunicorn --user).
OTHER_USER_APP = r'''
import os, pwd, sys, time
from prometheus_client import Counter
nobody = pwd.getpwnam('nobody')
workers = []
for n in range(2):
    pid = os.fork()
    if pid == 0:
        os.setgid(nobody.pw_gid)
        os.setuid(nobody.pw_uid)
        Counter('jobs', 'Jobs.').inc()
        end = time.process_time() + 0.2
        while time.process_time() < end:
            pass
        os.write(1, b'ready %d\n' % os.getpid())  # one write: print() may write in parts
        time.sleep(120)
        os._exit(0)
    workers.append(pid)
time.sleep(120)
'''


def scenario_user(binary, work):
    directory = tempfile.mkdtemp(prefix='workers-user-', dir='/dev/shm')
    os.chmod(directory, 0o1777)
    env = dict(os.environ, PROMETHEUS_MULTIPROC_DIR=directory)
    app = subprocess.Popen([sys.executable, '-c', OTHER_USER_APP], env=env, stdout=subprocess.PIPE, text=True, start_new_session=True)
    exporter = None
    try:
        workers = sorted(int(app.stdout.readline().split()[1]) for _ in range(2))
        os.chmod(work, 0o777)
        exporter = Exporter(binary, directory, work, args=('--collector.workers.pss-interval', '200ms'),
                            wrap=('setpriv', '--reuid=daemon', '--regid=daemon', '--clear-groups'))
        wait_until('workers served', lambda: (
            (lambda g: (pids_of(g, 'multiproc_worker_cpu_seconds_total') == workers, g))(exporter.samples())), 10)
        time.sleep(0.5)  # two background rounds of proportional memory: refused, and counted
        got = exporter.samples()
        problems = []
        for pid in workers:
            u, s, _, _ = times(pid)
            if abs(value(got, 'multiproc_worker_cpu_seconds_total', pid=str(pid), mode='user') - u / TICKS) > 1 / TICKS:
                problems.append(f'{pid} cpu')
            for measure in ('resident_memory_bytes', 'virtual_memory_bytes', 'max_fds', 'threads', 'start_time_seconds'):
                if value(got, f'multiproc_worker_{measure}', pid=str(pid)) is None:
                    problems.append(f'{pid} {measure} missing')
            if value(got, 'multiproc_worker_proportional_memory_bytes', pid=str(pid)) is not None:
                problems.append(f'{pid}: proportional memory served though smaps_rollup is not readable')
        if pids_of(got, 'multiproc_parent_cpu_seconds_total') != [app.pid]:
            problems.append(f'parents {pids_of(got, "multiproc_parent_cpu_seconds_total")}, want the root master {app.pid} (same command)')
        denied = value(got, 'multiproc_exporter_workers_skipped_total', reason='permission_denied')
        if not denied or denied < 2:
            problems.append(f'permission_denied {denied}')
        if 'level=error' in exporter.log():
            problems.append('errors logged')
        if problems:
            raise Failure('; '.join(problems))
        fds = 'open fds from the size of /proc/<pid>/fd' if value(got, 'multiproc_worker_open_fds', pid=str(workers[0])) else 'no open fds (kernel < 6.2)'
        return f'workers as nobody, exporter as daemon: CPU, memory, limits, threads, start served, {fds}; no PSS, permission_denied {denied:.0f}'
    finally:
        if exporter:
            exporter.stop()
        stop_group(app)
        shutil.rmtree(directory, ignore_errors=True)


def invisible(binary, work, wrap, reason):
    """A live app next to an exporter that cannot see it: nothing served, one log line."""
    directory = tempfile.mkdtemp(prefix='workers-invisible-', dir='/dev/shm')
    os.chmod(directory, 0o755)
    env = dict(os.environ, PROMETHEUS_MULTIPROC_DIR=directory)
    app = subprocess.Popen([sys.executable, os.path.join(ROOT, 'scripts', 'auto_mark_dead', 'prefork_kill.py'), '3'], env=env,
                           stdout=subprocess.PIPE, text=True, start_new_session=True)
    exporter = None
    try:
        if app.stdout.readline().split()[0] != 'done':
            raise Failure('prefork_kill.py did not start')
        os.chmod(work, 0o777)
        exporter = Exporter(binary, directory, work, wrap=wrap)
        for _ in range(3):
            text = exporter.scrape()
            if re.search(r'^multiproc_(worker|parent)', text, re.M):
                raise Failure('worker metrics served for an app this exporter cannot see')
        got = testkit.samples(text)
        lines = exporter.log().count('workers: none of the pids')
        skipped = {r: value(got, 'multiproc_exporter_workers_skipped_total', reason=r) for r in (reason, 'not_visible')}
        if value(got, 'multiproc_exporter_workers_visible') != 0 or lines != 1 or not all(skipped.values()):
            raise Failure(f'visible {value(got, "multiproc_exporter_workers_visible")}, {lines} log lines, skipped {skipped}')
        return f"nothing served, visible 0, one log line, skipped {skipped}"
    finally:
        if exporter:
            exporter.stop()
        stop_group(app)
        shutil.rmtree(directory, ignore_errors=True)


def scenario_hidepid(binary, work):
    # A proc instance of its own (Linux 5.8+), in a mount namespace of its own, as daemon.
    wrap = ('unshare', '--mount', '--propagation', 'private', 'sh', '-c',
            'mount -t proc -o hidepid=invisible proc /proc && exec setpriv --reuid=daemon --regid=daemon --clear-groups "$0" "$@"')
    return invisible(binary, work, wrap, 'hidden')


def scenario_namespace(binary, work):
    return invisible(binary, work, ('unshare', '--pid', '--fork', '--mount-proc'), 'not_visible')


SCENARIOS = {'gunicorn': scenario_gunicorn, 'uwsgi': scenario_uwsgi, 'sigkill': scenario_sigkill, 'user': scenario_user,
             'hidepid': scenario_hidepid, 'namespace': scenario_namespace}
NEEDS_ROOT = {'user', 'hidepid', 'namespace'}


def main():
    testkit.run_scenarios('workers collector', __doc__.split('\n\n')[0], SCENARIOS, NEEDS_ROOT,
                          os.path.join(ROOT, '.build/debug/multiproc-exporter'))


if __name__ == '__main__':
    main()
