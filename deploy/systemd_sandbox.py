#!/usr/bin/env python3
"""Runs the exporter under what multiproc-exporter.service allows, without systemd running:

  systemd_sandbox.py UNIT BINARY

- MemoryDenyWriteExecute=: the exporter runs under prctl(PR_SET_MDWE, REFUSE_EXEC_GAIN), the
  kernel's own form of it (newer systemd uses it), and the trace must hold no call that
  systemd 252's seccomp form refuses (mmap with PROT_WRITE|PROT_EXEC, mprotect/pkey_mprotect
  adding PROT_EXEC, shmat with SHM_EXEC);
- SystemCallFilter=: every system call in the trace is in the unit's allow list minus its
  deny list, both expanded by `systemd-analyze syscall-filter`;
- RestrictAddressFamilies=: every socket() family is in the unit's list.
The exporter is traced (strace -f) while it starts, answers /healthz, /metrics (text, gzip,
OpenMetrics) and POST /mark-dead/<pid> for a real dead worker, and stops on SIGTERM (exit 0).
"""
import ctypes
import http.client
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN = 65, 1
MDWE = True  # whether the kernel has PR_SET_MDWE (Linux 6.3)


def fail(message):
    print(f'FAIL: {message}', file=sys.stderr)
    sys.exit(1)


def unit_values(unit, key):
    return [line.split('=', 1)[1].strip() for line in open(unit) if line.startswith(key + '=')]


def expand(names, seen=None):
    """System call names of a filter list; @groups expanded recursively."""
    seen = set() if seen is None else seen
    out = set()
    for name in names:
        if not name.startswith('@'):
            out.add(name)
        elif name not in seen:
            seen.add(name)
            text = subprocess.run(['systemd-analyze', 'syscall-filter', name], capture_output=True,
                                  text=True, check=True).stdout
            members = [l.strip() for l in text.splitlines()[1:] if l.strip() and not l.strip().startswith('#')]
            out |= expand(members, seen)
    return out


def allowed_syscalls(unit):
    allow, deny = set(), set()
    for value in unit_values(unit, 'SystemCallFilter'):
        if value.startswith('~'):
            deny |= expand(value[1:].split())
        else:
            allow |= expand(value.split())
    return allow - deny


def write_dead_worker(directory):
    """A child process writes a counter and a livesum gauge with the real client, then exits."""
    code = ('from prometheus_client import Counter, Gauge\n'
            'Counter("jobs", "Jobs.").inc()\n'
            'Gauge("busy", "Busy.", multiprocess_mode="livesum").set(1)\n'
            'import os; print(os.getpid())\n')
    env = dict(os.environ, PROMETHEUS_MULTIPROC_DIR=directory)
    return int(subprocess.run([sys.executable, '-c', code], env=env, capture_output=True, text=True,
                              check=True).stdout)


def mdwe_preexec():
    """A preexec_fn: the child turns MDWE on for itself and everything it executes."""
    def preexec():
        if ctypes.CDLL(None, use_errno=True).prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0) != 0:
            os._exit(97)
    return preexec


def request(address, method, path, headers=None):
    host, port = address.rsplit(':', 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    conn.request(method, path, headers=headers or {})
    response = conn.getresponse()
    body = response.read()
    conn.close()
    return response.status, body


def main(unit, binary):
    for tool in ('strace', 'systemd-analyze'):
        if not shutil.which(tool):
            fail(f'{tool} not found (apt-get install {tool if tool == "strace" else "systemd"})')
    # The mechanism itself first: under PR_SET_MDWE a W+X mapping must fail.
    global MDWE
    probe = subprocess.run([sys.executable, '-c', 'import mmap; mmap.mmap(-1, 4096, prot=7)'],
                           preexec_fn=mdwe_preexec(), capture_output=True)
    if probe.returncode == 97:
        print('    note: prctl(PR_SET_MDWE) needs Linux 6.3; MemoryDenyWriteExecute= is checked from the trace only')
        MDWE = False
    elif probe.returncode == 0:
        fail('PR_SET_MDWE did not refuse a writable+executable mapping: the check would prove nothing')

    allowed = allowed_syscalls(unit)
    permitted = set(' '.join(unit_values(unit, 'RestrictAddressFamilies')).split())

    text = smoke(binary)
    calls = set(re.findall(r'^\d+\s+(?:<\.\.\. )?([a-z0-9_]+)[( ]', text, re.M))
    outside = sorted(calls - allowed)
    if outside:
        fail(f'system calls outside the unit\'s SystemCallFilter=: {outside}')
    print(f'    ok: all {len(calls)} distinct system calls are inside SystemCallFilter= ({len(allowed)} allowed)')

    wx = re.findall(r'^\d+\s+(?:mmap\(.*PROT_WRITE\|PROT_EXEC.*|(?:pkey_)?mprotect\(.*PROT_EXEC.*|shmat\(.*SHM_EXEC.*)$',
                    text, re.M)
    if wx:
        fail(f'calls that MemoryDenyWriteExecute= refuses: {wx[:3]}')
    print('    ok: no mmap(PROT_WRITE|PROT_EXEC), mprotect(PROT_EXEC) or shmat(SHM_EXEC) in the trace')

    # socket() calls of other families: systemd makes them fail with EAFNOSUPPORT. The
    # exporter must work all the same: run again with exactly those calls failing.
    families = re.findall(r'socket\((AF_\w+)', text)
    refused = [(n, family) for n, family in enumerate(families, 1) if family not in permitted]
    if len(refused) > 1:
        fail(f'several socket() calls outside RestrictAddressFamilies= ({refused}): extend this check')
    if refused:
        n, family = refused[0]
        text = smoke(binary, f'socket:error=EAFNOSUPPORT:when={n}')
        if not re.search(rf'socket\({family}.*EAFNOSUPPORT.*\(INJECTED\)', text):
            fail(f'the injected EAFNOSUPPORT did not hit the {family} socket')
        print(f'    ok: with socket({family}) refused as RestrictAddressFamilies= refuses it (glibc\'s '
              f'getaddrinfo AI_ADDRCONFIG probe), the exporter works all the same')
    print(f'    ok: socket families {sorted(set(families) & permitted)} within RestrictAddressFamilies=')


def whole_calls(trace):
    """strace -f prints a call that another thread's call interrupts as `name(args <unfinished ...>`
    and, later, `<... name resumed>rest`: each such pair is joined (by thread id) into one line,
    so that a call and its result are matched whatever the other threads do."""
    out, pending = [], {}
    for line in trace.splitlines():
        started = re.match(r'^(\d+)\s+(.*) <unfinished \.\.\.>$', line)
        resumed = re.match(r'^(\d+)\s+<\.\.\. \w+ resumed>(.*)$', line)
        if started:
            pending[started.group(1)] = (len(out), started.group(2))
            out.append(line)
        elif resumed and resumed.group(1) in pending:
            index, head = pending.pop(resumed.group(1))
            out[index] = f'{resumed.group(1)}  {head}{resumed.group(2)}'
        else:
            out.append(line)
    return '\n'.join(out)


def smoke(binary, inject=None):
    """The strace output of one exporter run exercising every endpoint, under PR_SET_MDWE."""
    work = tempfile.mkdtemp(prefix='multiproc-sandbox.')
    try:
        directory = os.path.join(work, 'multiproc')
        os.mkdir(directory)
        dead_pid = write_dead_worker(directory)
        trace, log = os.path.join(work, 'trace'), open(os.path.join(work, 'log'), 'w+')
        strace = ['strace', '-f', '-qq', '-o', trace] + (['-e', f'inject={inject}'] if inject else [])
        # :0, all addresses, as the unit's default options listen on all addresses.
        process = subprocess.Popen(strace + [binary, 'serve', '--web.listen-address', ':0', '--multiproc-dir', directory],
                                   stderr=log, preexec_fn=mdwe_preexec() if MDWE else None)
        address = None
        for _ in range(200):
            log.seek(0)
            match = re.search(r'msg=listening address=\S*?:(\d+)\b', log.read())
            if match:
                address = f'127.0.0.1:{match.group(1)}'
                break
            if process.poll() is not None:
                break
            time.sleep(0.05)
        if not address:
            process.kill()
            log.seek(0)
            fail(f'the exporter did not start under PR_SET_MDWE + strace {inject or ""}:\n{log.read()}')
        checks = [('GET', '/healthz', None, 200), ('GET', '/metrics', None, 200),
                  ('GET', '/metrics', {'Accept-Encoding': 'gzip'}, 200),
                  ('GET', '/metrics', {'Accept': 'application/openmetrics-text; version=1.0.0'}, 200),
                  ('POST', f'/mark-dead/{dead_pid}', None, 200), ('GET', '/metrics', None, 200)]
        for method, path, headers, want in checks:
            status, body = request(address, method, path, headers)
            if status != want:
                process.kill()
                fail(f'{method} {path}: {status}, want {want}: {body[:200]!r}')
        if os.path.exists(os.path.join(directory, f'gauge_livesum_{dead_pid}.db')):
            process.kill()
            fail('mark-dead did not remove the dead worker\'s livesum file')
        # SIGTERM to the exporter itself (strace's child); strace exits with its status.
        exporter_pid = int(open(f'/proc/{process.pid}/task/{process.pid}/children').read().split()[0])
        os.kill(exporter_pid, signal.SIGTERM)
        try:
            status = process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            fail('the exporter did not stop within 20s of SIGTERM')
        if status != 0:
            fail(f'exit status {status} after SIGTERM, want 0')
        print(f'    ok: served /healthz, /metrics (text, gzip, OpenMetrics) and mark-dead, exit 0 on SIGTERM, '
              f'{"under PR_SET_MDWE" if MDWE else ""}{" with injected " + inject if inject else ""}')
        return whole_calls(open(trace).read())
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == '__main__':
    main(*sys.argv[1:])
