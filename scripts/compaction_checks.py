#!/usr/bin/env python3
"""Compaction against real processes: the exporter binary, prometheus_client writers, kill -9.

  compaction_checks.py crash  --binary B [--iterations N] [--seed S]
      workers (forked prometheus_client writers) come, count and die; each is marked dead over
      HTTP; the exporter compacts every 20 ms with no delay and is killed with SIGKILL at a
      random moment, N times; after every restart (which settles an interrupted pass before
      it serves) the counters must equal what the workers counted: nothing lost, nothing twice.
  compaction_checks.py reuse  --binary B
      a writer with a dead pid's identity (MultiProcessValue(process_identifier=...)) writes
      again before and after its pid's files are folded: none of its increments is lost.
  compaction_checks.py wipes  --binary B
      the app wipes the directory while the exporter compacts it (rm -f *.db, shutil.rmtree
      + mkdir, os.listdir + os.remove): the wipe raises nothing, the exporter keeps serving
      the new workers' numbers, and a new worker reusing a recorded dead pid is not folded.
  compaction_checks.py beside --binary B
      `multiproc-exporter compact` runs in a loop beside `serve --compaction` while workers die,
      one run in three killed with SIGKILL inside its pass: the two take turns, and every
      scrape is exact and never goes down.
  compaction_checks.py killed --binary B [--iterations N]
      `compact` killed with SIGKILL inside its pass, again and again, beside a `serve` that does
      not compact (so nothing settles a pass until the next `compact`): every scrape in between
      is exact, never counting what the killed pass had put into an archive twice.
  compaction_checks.py oneshot --binary B
      the cron / hook path with no exporter serving: workers exit, `multiproc-exporter
      mark-dead PID` records each death (as a child_exit hook would), `compact` (as cron
      would) folds them; `compact` says why when nothing is due.
"""
import argparse
import errno
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), 'lib'))
import testkit  # noqa: E402


def fail(message):
    print(f'FAIL: {message}', file=sys.stderr)
    sys.exit(1)


def scratch(check):
    """A work folder for `check` and the (empty) metric directory inside it."""
    work = tempfile.mkdtemp(prefix=f'multiproc-{check}.')
    directory = os.path.join(work, 'multiproc')
    os.mkdir(directory)
    return work, directory


def wait_until(condition, what, directory, timeout=20):
    """Polls `condition` every 20 ms; fails naming `what` and the directory's files at `timeout`."""
    deadline = time.time() + timeout
    while not condition():
        if time.time() > deadline:
            fail(f'timed out waiting for {what}; directory: {sorted(os.listdir(directory))}')
        time.sleep(0.02)


class Exporter:
    """`serve --compaction` on a free port; `kill()` is kill -9, `start()` starts it again."""

    def __init__(self, binary, directory, log, delay='0s', interval='20ms', pause=None):
        self.binary, self.directory, self.log_path = binary, directory, log
        self.args = ['--compaction', '--compaction.delay', delay, '--compaction.interval', interval]
        if pause:  # each pass sleeps this long before each of its steps, so kills land inside
            self.args += ['--compaction.test-pause-before-step', pause]
        self.process = None
        self.start()

    def start(self):
        port = free_port()
        self.log = open(self.log_path, 'a')
        self.process = subprocess.Popen(
            [self.binary, 'serve', '--multiproc-dir', self.directory, '--web.listen-address', f'127.0.0.1:{port}'] + self.args,
            stdout=subprocess.DEVNULL, stderr=self.log)
        self.url = f'http://127.0.0.1:{port}'
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.process.poll() is not None:
                fail(f'exporter exited with {self.process.returncode}; log: {open(self.log_path).read()[-2000:]}')
            try:
                urllib.request.urlopen(self.url + '/healthz', timeout=1).read()
                return
            except OSError:
                time.sleep(0.01)
        fail('exporter did not start')

    def kill(self):
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        self.log.close()

    def stop(self):
        self.process.terminate()
        self.process.wait(10)
        self.log.close()

    def mark_dead(self, pid):
        request = urllib.request.Request(f'{self.url}/mark-dead/{pid}', method='POST', data=b'')
        urllib.request.urlopen(request, timeout=10).read()

    def samples(self):
        return testkit.samples(urllib.request.urlopen(self.url + '/metrics', timeout=10).read().decode())


free_port = testkit.free_port
python_samples = testkit.python_samples


def worker(directory, counts, identifier=None):
    """Forks a prometheus_client writer that adds `counts` ({route: n}) and exits; returns its pid."""
    pid = os.fork()
    if pid == 0:
        try:
            os.environ['PROMETHEUS_MULTIPROC_DIR'] = directory
            from prometheus_client import values
            if identifier is not None:
                values.ValueClass = values.MultiProcessValue(process_identifier=lambda: identifier)
            else:
                values.ValueClass = values.MultiProcessValue()
            from prometheus_client import Counter, Gauge, Histogram, CollectorRegistry
            registry = CollectorRegistry()
            requests = Counter('jobs', 'Jobs done.', ['route'], registry=registry)
            latency = Histogram('job_seconds', 'Job time.', registry=registry, buckets=(0.1, 1.0))
            peak = Gauge('peak', 'Peak.', multiprocess_mode='max', registry=registry)
            busy = Gauge('busy', 'Busy.', multiprocess_mode='livesum', registry=registry)
            busy.set(1)
            for route, n in counts.items():
                requests.labels(route).inc(n)
                for _ in range(n):
                    latency.observe(0.5)
                peak.set(n)
            os._exit(0)
        except BaseException as error:  # noqa: BLE001 — a child must never return into the parent's loop
            print(f'worker failed: {error!r}', file=sys.stderr)
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    if status != 0:
        fail(f'worker {pid} failed')
    return identifier if identifier is not None else pid


def totals(samples):
    jobs = sum(v for (name, _), v in samples.items() if name == 'jobs_total')
    observed = sum(v for (name, _), v in samples.items() if name == 'job_seconds_count')
    return jobs, observed


def pending_pass(directory):
    """Whether the journal has an archive commit whose pass has no `done` yet."""
    try:
        lines = open(os.path.join(directory, 'multiproc-exporter.journal')).read().split('\n')
    except FileNotFoundError:
        return False
    open_passes = set()
    for line in lines:
        fields = line.split(' ')
        if len(fields) >= 3 and fields[1] == 'commit':
            open_passes.add(fields[2])
        elif len(fields) >= 3 and fields[1] == 'done':
            open_passes.discard(fields[2])
    return bool(open_passes)


def switched_not_deleted(directory):
    """Whether a commit without `done` has its archive renamed and a folded file still there."""
    try:
        lines = [line.split(' ') for line in open(os.path.join(directory, 'multiproc-exporter.journal')).read().split('\n')]
    except FileNotFoundError:
        return False
    done = {f[2] for f in lines if len(f) >= 3 and f[1] == 'done'}
    folds = {}
    for f in lines:
        if len(f) >= 7 and f[1] == 'fold':
            folds.setdefault((f[2], f[3]), []).append((f[4], int(f[6])))

    def inode(name):
        try:
            return os.stat(os.path.join(directory, name)).st_ino
        except FileNotFoundError:
            return None
    return any(f[2] not in done and inode(f[3]) == int(f[4]) and any(inode(name) == i for name, i in folds.get((f[2], f[3]), []))
               for f in lines if len(f) >= 5 and f[1] == 'commit')


def leftovers(directory):
    return [n for n in os.listdir(directory) if n.endswith('.tmp')]


def crash(args):
    rng = random.Random(args.seed)
    work, directory = scratch('crash')
    log = os.path.join(work, 'exporter.log')
    exporter = Exporter(args.binary, directory, log, pause='5ms')
    expected = 0
    interrupted = 0
    started = time.time()
    for i in range(args.iterations):
        pids = []
        for _ in range(rng.randint(2, 6)):
            n = rng.randint(1, 9)
            expected += n
            pids.append(worker(directory, {f'/r{rng.randint(0, 3)}': n}))
        for pid in pids:
            exporter.mark_dead(pid)
        # Passes start within 50 ms (the maintenance tick) and, with a 5 ms pause before each of
        # their steps (four of them once per archive), last 40 ms or more: kills land before,
        # inside and after them.
        time.sleep(rng.uniform(0, 0.15))
        exporter.kill()
        if leftovers(directory) or pending_pass(directory):
            interrupted += 1
        exporter.start()
        jobs, observed = totals(exporter.samples())
        if jobs != expected or observed != expected:
            fail(f'iteration {i}: after kill -9 and restart jobs_total={jobs} job_seconds_count={observed}, want {expected}; '
                 f'work kept in {work}')
    exporter.stop()
    # Python agrees once no pass is half done: the next start settles one; a last pass folds the rest.
    result = subprocess.run([args.binary, 'compact', '--multiproc-dir', directory, '--compaction.delay', '0s'],
                            capture_output=True, text=True)
    if result.returncode != 0:
        fail(f'compact: {result.stderr}')
    jobs, observed = totals(python_samples(directory))
    if jobs != expected or observed != expected:
        fail(f"prometheus_client's collector over the compacted directory: jobs_total={jobs}, want {expected}")
    settled = open(log).read().count('settled an interrupted pass')
    left = leftovers(directory)
    if left:
        fail(f'leftovers of passes: {left}')
    files = [n for n in os.listdir(directory) if n.endswith('.db')]
    print(f'    ok: {args.iterations} kill -9 during passes every 20 ms, {settled} of them after a commit was journalled and '
          f'before its pass ended (settled on restart), {interrupted} leaving files of a pass; every count exact after every '
          f'restart; {len(files)} .db files left; prometheus_client agrees ({time.time() - started:.1f}s)')
    if settled == 0:
        fail('no kill -9 landed between a commit\'s journal record and its pass\'s end: raise --iterations')
    shutil.rmtree(work)


def reuse(args):
    work, directory = scratch('reuse')
    exporter = Exporter(args.binary, directory, os.path.join(work, 'exporter.log'), delay='1s', interval='50ms')

    # Before the fold: a new writer with the dead pid's identity opens its files again.
    worker(directory, {'/a': 5}, identifier=4242)
    exporter.mark_dead(4242)
    worker(directory, {'/a': 3}, identifier=4242)
    time.sleep(1.5)  # past the delay: the pid must have been found alive again, not folded
    if not os.path.exists(os.path.join(directory, 'counter_4242.db')):
        fail('the files of a pid that wrote again after mark-dead were folded')
    if totals(exporter.samples())[0] != 8:
        fail(f'jobs_total = {totals(exporter.samples())[0]}, want 8')
    # Marked dead again: folded now.
    exporter.mark_dead(4242)
    wait_until(lambda: not os.path.exists(os.path.join(directory, 'counter_4242.db')), 'the fold of pid 4242', directory)
    # After the fold: the identity writes again into a fresh file.
    worker(directory, {'/a': 2}, identifier=4242)
    jobs = totals(exporter.samples())[0]
    if jobs != 10:
        fail(f'jobs_total = {jobs} after writing again after the fold, want 10 (5 + 3 + 2)')
    exporter.stop()
    if totals(python_samples(directory))[0] != 10:
        fail("prometheus_client's collector does not count 10")
    print('    ok: a reused pid writing before the fold is revived and not folded, after the fold starts a fresh '
          'file; 5 + 3 + 2 counted exactly once, by the exporter and by prometheus_client')
    shutil.rmtree(work)


def wipes(args):
    work, directory = scratch('wipes')
    exporter = Exporter(args.binary, directory, os.path.join(work, 'exporter.log'), delay='0s', interval='20ms')

    def rm_db():
        subprocess.run(f'rm -f {directory}/*.db', shell=True, check=True)

    def rmtree():
        shutil.rmtree(directory)
        os.mkdir(directory)

    def listdir_remove():
        for name in os.listdir(directory):
            os.remove(os.path.join(directory, name))

    idioms = [('rm -f $DIR/*.db', rm_db), ('shutil.rmtree + mkdir', rmtree), ('os.listdir + os.remove', listdir_remove)]
    races = []
    for name, wipe in idioms * 3:
        # A run of the app: workers count and die, they are marked dead and folded.
        for n in (4, 5, 6):
            exporter.mark_dead(worker(directory, {'/a': n}))
        wait_until(lambda: any(n.endswith('_0.db') for n in os.listdir(directory)),
                   f'{name}: a fold before the wipe', directory, timeout=10)
        # The app restarts: workers die as it shuts down, and it wipes the directory while the
        # exporter is busy folding them (passes every 20 ms, no delay).
        for n in (1, 2, 3):
            exporter.mark_dead(worker(directory, {'/a': n}))
        # Pid 4242 dies too, just before the wipe: the journal may still list it as dead then.
        worker(directory, {'/a': 9}, identifier=4242)
        exporter.mark_dead(4242)
        try:
            wipe()
        except (FileNotFoundError, OSError) as error:
            # README, Limits: a raw listdir + remove or rmtree can meet a name a pass just
            # deleted or named (microseconds, with passes every 20 ms here). A robust wipe
            # (rm -f, ignore_errors=True) never does; this one is run again, and counted.
            if not isinstance(error, FileNotFoundError) and error.errno != errno.ENOTEMPTY:
                fail(f'{name}: the wipe raised {error!r} on {error.filename}')
            races.append(f'{name}: {error!r}')
            wipe()
        # New workers, one reusing a pid the journal may still list as dead.
        worker(directory, {'/b': 7}, identifier=4242)
        exporter.mark_dead(worker(directory, {'/b': 1}))
        time.sleep(0.3)
        samples = exporter.samples()
        jobs = totals(samples)[0]
        if jobs != 8:
            fail(f'{name}: jobs_total = {jobs} after the wipe, want 8 (the new run only)')
        if not os.path.exists(os.path.join(directory, 'counter_4242.db')):
            fail(f'{name}: a new worker reusing a pid from before the wipe had its files folded')
        if totals(python_samples(directory))[0] != 8:
            fail(f"{name}: prometheus_client's collector disagrees after the wipe")
        print(f'    ok: {name} while the exporter compacts: new run counted alone, a new worker with an old dead pid untouched')
        # Clean slate for the next idiom.
        rm_db()
        for leftover in os.listdir(directory):
            os.remove(os.path.join(directory, leftover))
    if exporter.process.poll() is not None:
        fail('the exporter died')
    if len(races) > 2:
        fail(f'{len(races)} of 9 wipes met a name a pass was changing (about 1 in 80 here): {races}')
    print(f'    ok: {9 - len(races)} of 9 raw wipes raised nothing' + (f'; one met a pass\'s name and was run again: {races[0]}' if races else ''))
    exporter.stop()
    shutil.rmtree(work)


def beside(args):
    """`compact` runs again and again beside `serve --compaction` while workers come and die."""
    import threading
    work, directory = scratch('beside')
    exporter = Exporter(args.binary, directory, os.path.join(work, 'exporter.log'), delay='0s', interval='20ms')
    stop = threading.Event()
    problems, passes = [], {'runs': 0, 'folded': 0, 'killed': 0}

    def compact_loop():
        rng = random.Random(args.seed)
        while not stop.is_set():
            command = [args.binary, 'compact', '--multiproc-dir', directory, '--compaction.delay', '0s']
            passes['runs'] += 1
            if passes['runs'] % 3 == 0:
                # Killed with SIGKILL inside its pass (paused before every step): the serving
                # exporter must never serve what it folded twice, before or after settling it.
                process = subprocess.Popen(command + ['--compaction.test-pause-before-step', '5ms'],
                                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                time.sleep(rng.uniform(0, 0.06))
                process.kill()
                process.wait()
                passes['killed'] += 1
                continue
            result = subprocess.run(command, capture_output=True, text=True)
            if result.returncode != 0:
                problems.append(f'compact exited {result.returncode}: {result.stderr.strip()}')
            folded = re.search(r'folded_pids=(\d+)', result.stdout)
            passes['folded'] += int(folded.group(1)) if folded else 0

    expected = 0
    scrapes = 0
    last = (0, 0, 0.0)
    thread = threading.Thread(target=compact_loop)
    thread.start()
    try:
        for i in range(120):
            n = 1 + i % 4
            exporter.mark_dead(worker(directory, {'/a': n}))
            expected += n
            for _ in range(3):
                samples = exporter.samples()
                scrapes += 1
                jobs, observed = totals(samples)
                seconds = samples.get(('job_seconds_sum', ()), 0.0)
                if jobs < last[0] or observed < last[1] or seconds < last[2]:
                    problems.append(f'scrape {scrapes}: went down from {last} to {(jobs, observed, seconds)}')
                last = (jobs, observed, seconds)
                if jobs != expected:
                    problems.append(f'scrape {scrapes}: jobs_total={jobs}, want {expected}')
    finally:
        stop.set()
        thread.join()
    exporter.stop()
    if problems:
        fail('; '.join(problems[:5]))
    if totals(python_samples(directory))[0] != expected:
        fail("prometheus_client's collector disagrees")
    # Both compactors must have done real work, or nothing here was tested.
    served = open(exporter.log_path).read().count('folded dead pids into archives')
    if passes['folded'] == 0 or served == 0:
        fail(f"the two compactors did not both fold: `compact` folded {passes['folded']} pids in {passes['runs']} runs, "
             f"serve logged {served} folding passes")
    print(f'    ok: {passes["runs"]} `compact` runs ({passes["folded"]} pids folded by them, {passes["killed"]} killed with SIGKILL '
          f'inside their pass) beside `serve --compaction` every 20 ms ({served} passes of its own folded); {scrapes} scrapes, '
          f'every one exact ({expected} jobs) and none going down')
    shutil.rmtree(work)


def killed(args):
    rng = random.Random(args.seed)
    work, directory = scratch('killed')
    exporter = Exporter(args.binary, directory, os.path.join(work, 'exporter.log'))
    exporter.args = []  # no compaction in the server: only the killed `compact` runs change files
    exporter.kill()
    exporter.start()
    compact = [args.binary, 'compact', '--multiproc-dir', directory, '--compaction.delay', '0s']
    expected, pending, switched = 0, 0, 0
    for i in range(args.iterations):
        for _ in range(rng.randint(1, 3)):
            n = rng.randint(1, 5)
            expected += n
            pid = worker(directory, {'/a': n})
            subprocess.run([args.binary, 'mark-dead', str(pid), '--multiproc-dir', directory], check=True, capture_output=True)
        # Each step paused 30 ms (a pass of three archives: 14 steps), killed anywhere in it.
        process = subprocess.Popen(compact + ['--compaction.test-pause-before-step', '30ms'], stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.02, 0.6))
        process.kill()
        process.wait()
        pending += pending_pass(directory)
        switched += switched_not_deleted(directory)
        for _ in range(2):
            jobs, observed = totals(exporter.samples())
            if (jobs, observed) != (expected, expected):
                fail(f'iteration {i}: after compact was killed, jobs_total={jobs} job_seconds_count={observed}, want {expected}; '
                     f'work kept in {work}')
    exporter.stop()
    if switched == 0:
        fail('no kill landed between an archive\'s rename and the deletes: raise --iterations')
    print(f'    ok: {args.iterations} `compact` runs killed with SIGKILL inside their pass beside a non-compacting `serve`, '
          f'{pending} of them leaving a commit pending, {switched} with its archive renamed and its files still there; '
          'every scrape exact')
    shutil.rmtree(work)


def oneshot(args):
    work, directory = scratch('oneshot')

    def run(*argv):
        result = subprocess.run([args.binary, *argv, '--multiproc-dir', directory], capture_output=True, text=True)
        if result.returncode != 0:
            fail(f'{argv}: exit {result.returncode}: {result.stderr}')
        return result.stdout

    out = run('compact', '--compaction.delay', '0s')
    if 'folded_pids=0' not in out or 'no pid was ever recorded dead' not in out:
        fail(f'compact on a directory without a journal does not say why it folded nothing: {out!r}')
    pids = [worker(directory, {'/a': n}) for n in (3, 4, 5)]
    live = worker(directory, {'/b': 6})  # exited too, but never marked dead: not folded
    for pid in pids:
        run('mark-dead', str(pid))
    out = run('compact', '--compaction.delay', '1h')
    if 'folded_pids=0' not in out or 'less than --compaction.delay' not in out:
        fail(f'compact before the delay does not say why it folded nothing: {out!r}')
    out = run('compact', '--compaction.delay', '0s')
    if 'folded_pids=3 ' not in out:
        fail(f'compact after mark-dead of 3 exited workers: {out!r}')
    left = sorted(n for n in os.listdir(directory) if n.endswith('.db'))
    if any(f'_{pid}.db' in n and not n.startswith('gauge_all') for pid in pids for n in left):
        fail(f'files of folded pids left: {left}')
    if not any(n == f'counter_{live}.db' for n in left):
        fail(f'a pid never marked dead was folded: {left}')
    dump = testkit.samples(run('dump'))
    jobs, observed = totals(dump)
    if (jobs, observed) != (18, 18) or totals(python_samples(directory)) != (18, 18):
        fail(f'after the fold: dump counts {(jobs, observed)}, prometheus_client {totals(python_samples(directory))}, want 18')
    print(f'    ok: mark-dead (command line) then compact (one-shot) folded 3 exited workers ({", ".join(map(str, pids))}); '
          'dump and prometheus_client count 18; a pid never marked dead untouched; compact says why when nothing is due')
    shutil.rmtree(work)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('command', choices=['crash', 'reuse', 'wipes', 'beside', 'killed', 'oneshot'])
    parser.add_argument('--binary', required=True)
    parser.add_argument('--iterations', type=int, default=60)
    parser.add_argument('--seed', type=int, default=random.randrange(1 << 30))
    args = parser.parse_args()
    print(f'==> compaction {args.command}' + (f' (seed {args.seed})' if args.command == 'crash' else ''))
    {'crash': crash, 'reuse': reuse, 'wipes': wipes, 'beside': beside, 'killed': killed, 'oneshot': oneshot}[args.command](args)


if __name__ == '__main__':
    main()
