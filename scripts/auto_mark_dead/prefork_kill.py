"""A pre-fork master with no cleanup at all: it SIGKILLs one of its 3 workers every 0.4 s and
forks a replacement, FORKS times in all, then keeps the last 3 workers alive.

Workers increment `jobs_total` and set `workers_busy` (livesum, 1) and `worker_jobs`
(liveall) in a loop. SIGUSR1 to the master makes every worker stop writing (so a reader can
compare counters), SIGTERM ends everything. Prints `done <pids>` once the last worker is
forked, then `quiet` after SIGUSR1.

usage: PROMETHEUS_MULTIPROC_DIR=... python3 prefork_kill.py [FORKS]
"""
import os
import signal
import sys
import time

from prometheus_client import Counter, Gauge

JOBS = Counter('jobs', 'Jobs done.')
BUSY = Gauge('workers_busy', 'Busy workers.', multiprocess_mode='livesum')
PER_WORKER = Gauge('worker_jobs', 'Jobs per live worker.', multiprocess_mode='liveall')

quiet = False


def worker():
    global quiet
    signal.signal(signal.SIGTERM, signal.SIG_DFL)

    def hush(*_):
        global quiet
        quiet = True
    signal.signal(signal.SIGUSR1, hush)
    done = 0
    while True:
        if not quiet:
            JOBS.inc()
            BUSY.set(1)
            done += 1
            PER_WORKER.set(done)
        time.sleep(0.01)


def spawn():
    pid = os.fork()
    if pid == 0:
        try:
            worker()
        finally:
            os._exit(0)
    return pid


def main():
    forks = int(sys.argv[1]) if len(sys.argv) > 1 else 15
    workers = [spawn() for _ in range(3)]
    forked = 3
    while forked < forks:
        time.sleep(0.4)
        victim = workers.pop(0)
        os.kill(victim, signal.SIGKILL)  # no cleanup, no hook: files stay behind
        os.waitpid(victim, 0)
        workers.append(spawn())
        forked += 1
    print('done', ' '.join(map(str, workers)), flush=True)

    def stop_writing(*_):
        for pid in workers:
            os.kill(pid, signal.SIGUSR1)
        print('quiet', flush=True)

    def terminate(*_):
        for pid in workers:
            os.kill(pid, signal.SIGKILL)
        os._exit(0)
    signal.signal(signal.SIGUSR1, stop_writing)
    signal.signal(signal.SIGTERM, terminate)
    while True:
        signal.pause()


if __name__ == '__main__':
    main()
