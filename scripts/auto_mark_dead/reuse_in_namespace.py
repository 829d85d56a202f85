"""Pid reuse made real: run as the first process of a new pid namespace (as root,
`unshare --pid --fork --mount-proc python3 reuse_in_namespace.py BINARY DIR`), where
/proc/sys/kernel/ns_last_pid picks the next pid.

Sets up, in DIR:
  exited     a worker wrote files and exited (reaped): no process has its pid
  zombie     a worker wrote files and exited, never reaped
  reused     a worker wrote files and exited; later an unrelated `sleep` got its pid
  taken_over a worker wrote files and exited; later a new worker got its pid and opened
             (maps) the same files, as prometheus_client does for a reused pid
  live       a worker that writes and keeps running
then runs `BINARY mark-dead --auto` in this namespace and checks that it marked exactly
exited, zombie and reused, and that the live gauge files of taken_over and live are there.

Then what `mark-dead --auto` remembers (multiproc-exporter.writers: taken_over's and live's
writers, seen mapping their files), against the real kernel, a new process each run:
  phase 2    live and taken_over's new worker exit; live's pid goes to yet another new worker
             that opens the same files, taken_over's to a `sleep`: the new worker's files stay
             (a pid seen written, gone, and reused by a live worker is never dead), the
             sleep's pid is marked (pid_reused)
  phase 3    that new worker and the sleep exit too: nothing of the app runs, yet live's pid,
             seen written (by its last worker), is marked (exited), and the run exits 0
Prints one JSON line with the pids, the verdicts and the commands' output; exit 1 on failure.
"""
import json
import os
import signal
import subprocess
import sys
import time

BINARY, DIRECTORY = sys.argv[1], sys.argv[2]
os.environ['PROMETHEUS_MULTIPROC_DIR'] = DIRECTORY


def write_metrics(stay):
    """In a child: the worker's first values create its files (gauge_livesum_<pid>.db...)."""
    from prometheus_client import Counter, Gauge
    Counter('jobs', 'Jobs.').inc()
    Gauge('busy', 'Busy.', multiprocess_mode='livesum').set(1)
    if stay:
        signal.pause()
    os._exit(0)


def fork_worker(stay=False, reap=True):
    pid = os.fork()
    if pid == 0:
        write_metrics(stay)
    if not stay:
        if reap:
            os.waitpid(pid, 0)
        else:
            while not os.path.exists(os.path.join(DIRECTORY, f'gauge_livesum_{pid}.db')):
                time.sleep(0.01)
            time.sleep(0.2)  # exits right after writing: becomes a zombie
    return pid


def next_pid_will_be(pid):
    with open('/proc/sys/kernel/ns_last_pid', 'w') as f:
        f.write(str(pid - 1))


def main():
    assert os.getpid() == 1, 'run me as the first process of a new pid namespace'
    exited = fork_worker()
    zombie = fork_worker(reap=False)
    reused = fork_worker()
    taken_over = fork_worker()
    live = fork_worker(stay=True)
    # Reuse must come clearly after the files' creation (DeadWorkerRule's margin: 1 s).
    time.sleep(1.5)
    next_pid_will_be(reused)
    sleeper = subprocess.Popen(['sleep', '60'])
    assert sleeper.pid == reused, f'sleep got pid {sleeper.pid}, not {reused}'
    next_pid_will_be(taken_over)
    new_worker = fork_worker(stay=True)
    assert new_worker == taken_over, f'new worker got pid {new_worker}, not {taken_over}'
    time.sleep(0.3)  # it has opened and mapped the old files

    problems, runs = [], []
    phase(1, {exited: 'exited', zombie: 'zombie', reused: 'pid_reused'}, kept=(taken_over, live), problems=problems, runs=runs)

    # Phase 2: every writer seen exits; one pid goes to a new worker that opens the same files,
    # the other to an unrelated process.
    sleeper.kill()
    sleeper.wait()
    for pid in (new_worker, live):
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    next_pid_will_be(live)
    reuser = fork_worker(stay=True)
    assert reuser == live, f'new worker got pid {reuser}, not {live}'
    next_pid_will_be(taken_over)
    sleeper = subprocess.Popen(['sleep', '60'])
    assert sleeper.pid == taken_over, f'sleep got pid {sleeper.pid}, not {taken_over}'
    time.sleep(0.3)  # the new worker has opened and mapped the old files
    phase(2, {taken_over: 'pid_reused'}, kept=(live,), problems=problems, runs=runs)

    # Phase 3: the app stops: nothing of it runs. Only what was seen says live's pid is dead.
    sleeper.kill()
    sleeper.wait()
    os.kill(reuser, signal.SIGKILL)
    os.waitpid(reuser, 0)
    phase(3, {live: 'exited'}, kept=(), problems=problems, runs=runs)

    print(json.dumps({'pids': {'exited': exited, 'zombie': zombie, 'reused': reused, 'taken_over': taken_over, 'live': live},
                      'runs': runs, 'problems': problems}))
    sys.exit(1 if problems else 0)


def phase(number, expected_marked, kept, problems, runs):
    """One `mark-dead --auto`: it must remove the live gauges of exactly `expected_marked` and
    exit 0, and leave the live gauge and counter files of the pids in `kept` (live workers) where
    they are."""
    before = sorted(os.listdir(DIRECTORY))
    run = subprocess.run([BINARY, 'mark-dead', '--auto', '--auto.confirm-after', '300ms', '--multiproc-dir', DIRECTORY],
                         capture_output=True, text=True, timeout=60)
    after = sorted(os.listdir(DIRECTORY))
    marked = {}  # pids marked that lost files: a pid without live gauges is marked again by every run
    for line in run.stdout.splitlines():
        words = line.split()
        if line.startswith('marked pid') and not line.endswith('removed nothing'):
            marked[int(words[2])] = words[4].strip('():')
    if run.returncode != 0:
        problems.append(f'phase {number}: mark-dead --auto exited {run.returncode}')
    if marked != expected_marked:
        problems.append(f'phase {number}: marked {marked}, expected {expected_marked}')
    for pid in kept:
        for name in (f'gauge_livesum_{pid}.db', f'counter_{pid}.db'):
            if name not in after:
                problems.append(f'phase {number}: {name} of a live worker was removed')
    for pid in expected_marked:
        if f'gauge_livesum_{pid}.db' in after:
            problems.append(f'phase {number}: gauge_livesum_{pid}.db of a dead worker is still there')
    runs.append({'phase': number, 'marked': marked, 'stdout': run.stdout, 'stderr': run.stderr, 'before': before, 'after': after})


if __name__ == '__main__':
    main()
