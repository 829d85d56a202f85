#!/usr/bin/env python3
"""Writes and reads multiprocess directories with WHATEVER prometheus_client this python has.

Run with a venv's python from scripts/clients/venvs.py (0.1.0 ... 0.26.0); it uses only what
every one of those releases has. Subcommands:

    writer.py write DIR --seed N [--workers 4] [--dead 1]   forked workers write DIR; prints a JSON manifest
    writer.py record DIR OUT                                 what this version's MultiProcessCollector serves
    writer.py steps DIR --seed N                             a long-lived worker: one batch of updates per
                                                             stdin line `step K`, answering `done K`
    writer.py convert SRC DST LAYOUTS.json OUT               (0.26 only) the expectation for a mixed SRC

`write` forks the workers one after another. Each sets both spellings of the directory
variable (`prometheus_multiproc_dir` before 0.12, `PROMETHEUS_MULTIPROC_DIR` after) and only
then imports prometheus_client, which picks its multiprocess value class at import. Every
worker exercises every metric type and every gauge mode this release accepts (read from
`Gauge._MULTIPROC_MODES`: all liveall min max livesum up to 0.15, plus sum livemin livemax
from 0.16, plus mostrecent livemostrecent from 0.18), with label values that need escaping
(unicode, quotes, backslashes, newlines, empty), special floats (inf, nan, -0.0, subnormals,
values Go renders with an exponent), custom histogram buckets, entries created but never
updated, and HELP text that needs escaping. After they exit, `--dead` of them are marked dead
with this release's own `mark_process_dead`.

`record` serves DIR exactly as an application on this release would:
`generate_latest(registry)` of a `CollectorRegistry` holding a `MultiProcessCollector`.

`convert` builds the expectation for a directory mixing releases "as if every file had been
written in today's layout": each file of SRC is rewritten into DST with 0.26's own MmapedDict
(entries in their order, keys of 3 elements get HELP `Multiprocess metric`, 8-byte values get
timestamp 0, label lists become a dict, a counter before 0.4 named `x_total` becomes family `x`
as later releases store it), LAYOUTS.json naming each file's layout as the writer knew it (never
guessed). The converted files are merged by 0.26's `MultiProcessCollector.merge` in SRC's listing
order (the order Python's glob, and our reader, see), and rendered with `generate_latest`,
except that a counter family all of whose samples come from before 0.4 unconverted (named as
the family) is announced as those releases announced it (README "Client versions").
"""
import json
import math
import os
import random
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
import testkit  # noqa: E402

LABEL_VALUES = ['plain', 'é', 'e\u0301', '🚀', '日本語', 'quote"d', 'back\\slash', 'new\nline', '',
                ' spaced ', 'tab\there', 'end\\', '\\n not a newline', 'ctl\r\x7f\u2028']
HELP = 'Help with "quotes", a back\\slash, a new\nline and ünïcødé 🚀'
SPECIAL = [math.inf, -math.inf, math.nan, -0.0, 0.0, 5e-324, -5e-324, 1e-300, 1.7976931348623157e308,
           1e22, 12345678.5, 1234567.0, 0.1, 1 / 3, 2.0 ** 53 + 2]
# Releases from 0.5.0 (0.17.1 still) spell values in [1e10, 1e16) with a 3-digit exponent
# (`e+015`; client_python #1190 fixed it, 0.26.0 writes `e+15`): committed fixtures, compared
# byte for byte, leave them out (the live checks keep them: lines.py compares values as numbers).
# Set by `write --uniform-help` before the workers fork.
UNIFORM_HELP = False
GOLDEN_SPECIAL = [v for v in SPECIAL if not 1e10 <= v < 1e16]
BUCKETS = [1e-05, 0.25, 1.0, 2.5, 1234567.0, 12345678.5, 1e22, math.inf]


# MARK: - This release's API (0.4.x keeps everything in core, later ones split it up)

def client():
    import prometheus_client as pc
    try:
        from prometheus_client import values
        value_class = values.ValueClass
    except ImportError:  # 0.4.x
        from prometheus_client import core
        value_class = core._ValueClass
    assert getattr(value_class, '_multiprocess', False) or 'Mmaped' in value_class.__name__, \
        'prometheus_client is not in multiprocess mode'
    return pc


def gauge_modes(pc):
    gauge = pc.Gauge
    modes = getattr(gauge, '_MULTIPROC_MODES', None)
    if modes is None:  # before 0.5 the class is wrapped in a factory function
        cls = next(c.cell_contents for c in gauge.__closure__ if isinstance(c.cell_contents, type))
        # 0.1.x spells its modes only inside Gauge.__init__.
        modes = getattr(cls, '_MULTIPROC_MODES', ['min', 'max', 'livesum', 'liveall', 'all'])
    return sorted(modes)


def version():
    from importlib.metadata import version as v
    return v('prometheus-client')


def version_tuple():
    return tuple(int(x) for x in version().split('.')[:2])


# MARK: - One worker's updates

def run_updates(pc, rng, w, step=0, golden=False):
    """Worker `w`'s updates; `step` > 0 adds the series and updates of a later batch.

    `golden`: the ORDER RULE of scripts/golden (committed fixtures are merged in whatever
    order a checkout lists them): values combined across pids are quarters, special floats and
    clock readings go to series of one pid only."""
    modes = gauge_modes(pc)
    s = f'_s{step}' if step else ''
    one = f'-w{w}' if golden else ''  # a label value only this worker writes

    def h(text):  # --uniform-help: every release's files announce the same HELP
        return 'Multiprocess metric' if UNIFORM_HELP else text

    def rnd(scale):
        return rng.randrange(int(scale) * 4 + 1) / 4 if golden else rng.random() * scale

    requests = pc.Counter('app_requests', h(HELP), ['path', 'method'], registry=None)
    for i, value in enumerate(LABEL_VALUES):
        requests.labels(value, 'GET' if i % 2 else 'POST').inc(rng.choice([1, 0.5, rnd(100)]))
    requests.labels('step' + s, 'PUT').inc(w + 1)
    pc.Counter('app_jobs_total', h('Jobs.'), registry=None).inc(rnd(1))
    pc.Counter('app_huge', h('Sums past the largest float.'), registry=None).inc(1e308)
    pc.Counter('app_untouched', h('Created, never incremented.'), ['k'], registry=None).labels('never' + s)
    for mode in modes:
        g = pc.Gauge('app_gauge_' + mode, h(HELP + ' mode ' + mode), ['kind'], registry=None, multiprocess_mode=mode)
        g.labels('random').set(rnd(1000) - 500)
        specials = GOLDEN_SPECIAL if golden else SPECIAL
        g.labels('special' + one).set(specials[(w * 7 + step + len(mode)) % len(specials)])
        g.labels('w' + str(w)).set(w)
        if 'mostrecent' not in mode:  # mostrecent gauges refuse inc/dec
            g.labels('incdec').inc(3.5)
            g.labels('incdec').dec(1.25)
        g.labels('now' + one).set_to_current_time()
        g.labels('untouched' + s)  # entry with value 0 (and timestamp 0 where there is one)
        if step:
            g.labels('random').set(rng.random())
            g.labels('step' + s).set(step)
    latency = pc.Histogram('app_latency_seconds', h(HELP), ['route'], registry=None)
    sizes = pc.Histogram('app_sizes', h('Custom buckets.'), ['route'], buckets=BUCKETS, registry=None)
    payload = pc.Summary('app_payload_bytes', h(HELP), ['route'], registry=None)
    for route in ['/', '/é"\\\n', '']:
        for _ in range(3):
            latency.labels(route).observe(rnd(3))
        # Sums of 1e22 and small values round differently in different orders.
        for value in ([0.25, 2.5, 1234567.0, 12345678.5, -1.0, rnd(1e7)] if golden else
                      [1e-05, 2.5, 1234567.0, 12345678.5, 1e22, -1.0, rnd(1e7)]):
            sizes.labels(route).observe(value)
        payload.labels(route).observe(rnd(4096))
    if w % 2:
        sizes.labels('nan' + one).observe(math.nan)
    latency.labels('untouched' + s)
    if version_tuple() >= (0, 22):  # UTF-8 metric names (older releases refuse them)
        pc.Counter('app.dotted', h('UTF-8 name.'), registry=None).inc(w)


def worker_main(directory, seed, w, golden):
    os.environ['prometheus_multiproc_dir'] = directory
    os.environ['PROMETHEUS_MULTIPROC_DIR'] = directory
    for name in [m for m in sys.modules if m == 'prometheus_client' or m.startswith('prometheus_client.')]:
        del sys.modules[name]
    run_updates(client(), random.Random(seed * 1000 + w), w, golden=golden)


def fork_workers(directory, seed, count, first=0, golden=False):
    pids = []
    for w in range(first, first + count):
        sys.stdout.flush()
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                worker_main(directory, seed, w, golden)
                code = 0
            except BaseException:
                import traceback
                traceback.print_exc()
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        if status != 0:
            raise SystemExit(f'worker {pid} failed with status {status}')
        pids.append(pid)
        time.sleep(0.002)  # distinct mostrecent timestamps between workers
    return pids


def mark_dead(directory, pids):
    from prometheus_client.multiprocess import mark_process_dead
    for pid in pids:
        mark_process_dead(pid, path=directory)


def command_write(directory, seed, workers, dead, first=0, golden=False, uniform_help=False):
    global UNIFORM_HELP
    UNIFORM_HELP = uniform_help
    os.makedirs(directory, exist_ok=True)
    directory = os.path.abspath(directory)
    pids = fork_workers(directory, seed, workers, first, golden)
    mark_dead(directory, pids[:dead])
    # Layout names as docs/design.md §2a and the exporter use them.
    v = version_tuple()
    layout = 'k4lv8' if v < (0, 4) else 'k3v8' if v < (0, 16) else 'k4v8' if v < (0, 18) else 'k4v16'
    print(json.dumps({'version': version(), 'layout': layout, 'modes': gauge_modes(client_module()),
                      'pids': pids, 'dead': pids[:dead]}))


def client_module():
    import prometheus_client
    return prometheus_client


# MARK: - What this release serves

def scrape(directory):
    return testkit.python_exposition(directory)[1]


def command_record(directory, out):
    body = scrape(directory)
    with open(out, 'wb') as f:
        f.write(body)


# MARK: - A long-lived worker for the served case

def command_steps(directory, seed):
    """One process (one pid) that updates and grows its files whenever the driver says so."""
    os.environ['prometheus_multiproc_dir'] = directory
    os.environ['PROMETHEUS_MULTIPROC_DIR'] = directory
    pc = client()
    rng = random.Random(seed)
    print(f'ready {os.getpid()}', flush=True)
    for line in sys.stdin:
        step = int(line.split()[1])
        run_updates(pc, rng, 100 + step % 3, step)
        if step % 3 == 2:
            # Enough new series to grow the files past their first size (1 MiB before 0.16,
            # 64 KiB after), which makes the writer extend and remap them.
            # (1 MiB / 64 bytes per entry = 16384 entries).
            grow = pc.Gauge('app_growth', 'Many series.', ['n'], registry=None, multiprocess_mode='all')
            for n in range(step * 20000, step * 20000 + 20000):
                grow.labels(str(n)).set(n)
            counter = pc.Counter('app_growth_events', 'Many series.', ['n'], registry=None)
            for n in range(2000):
                counter.labels(str(n)).inc(0.5)
        print(f'done {step}', flush=True)


# MARK: - The expectation for a mixed directory (0.26)

def read_entries(path, value_bytes, elements):
    """(key as a 4-element list, value, timestamp) of a well-formed file of a known layout.
    `elements` 2 means the label lists of releases before 0.4 (zipped into a dict)."""
    with open(path, 'rb') as f:
        data = f.read()
    out = []
    for raw_key, raw_value, _ in testkit.read_entries(data, value_bytes):
        key = json.loads(raw_key.decode('utf-8'))
        if elements == 2:
            assert len(key) == 4 and isinstance(key[2], list), f'{path}: key {key!r} has no label lists'
            key = [key[0], key[1], dict(zip(key[2], key[3]))]
        else:
            assert len(key) == elements, f'{path}: key {key!r} is not of {elements} elements'
        value = struct.unpack_from('<d', raw_value, 0)[0]
        timestamp = struct.unpack_from('<d', raw_value, 8)[0] if value_bytes == 16 else 0.0
        if len(key) == 3:
            key.append('Multiprocess metric')
        out.append((key, value, timestamp))
    return out


def convert_file(source, target, layout):
    """Rewrites `source`, of `layout`, into today's layout at `target` with 0.26's MmapedDict.

    A counter of a release before 0.4 stored the name given to `Counter()` as metric and sample
    name; one named `x_total` is stored as 0.4 and later store `Counter('x_total')`:
    metric `x`, sample `x_total` (README "Client versions"). One named without `_total` keeps
    its names (see pre04_counter_headers)."""
    from prometheus_client.mmap_dict import MmapedDict
    value_bytes, elements = {'k4lv8': (8, 2), 'k3v8': (8, 3), 'k4v8': (8, 4), 'k4v16': (16, 4)}[layout]
    is_counter = os.path.basename(source).startswith('counter_')
    writer = MmapedDict(target)
    for key, value, timestamp in read_entries(source, value_bytes, elements):
        if is_counter and key[0] == key[1] and key[0].endswith('_total') and len(key[0]) > len('_total'):
            key[0] = key[0][:-len('_total')]
        writer.write_value(json.dumps(key, sort_keys=True), value, timestamp)
    writer.close()
    return target


def pre04_counter_headers(metrics, body):
    """`body` (text 0.0.4) with each counter family whose samples are all named as the family
    (only releases before 0.4 wrote such counters) announced under its own name, as those
    releases did: `# TYPE x counter` instead of today's `# TYPE x_total counter`."""
    pre04 = {m.name for m in metrics if m.type == 'counter' and m.samples and all(s.name == m.name for s in m.samples)}
    lines = body.decode('utf-8').split('\n')
    for i, line in enumerate(lines):
        name = line[len('# TYPE '):-len('_total counter')]
        if line.startswith('# TYPE ') and line.endswith('_total counter') and name in pre04:
            # generate_latest writes `# HELP <name>_total ...` right before.
            assert lines[i - 1].startswith(f'# HELP {name}_total '), lines[i - 1]
            lines[i - 1] = f'# HELP {name} ' + lines[i - 1][len(f'# HELP {name}_total '):]
            lines[i] = f'# TYPE {name} counter'
    return '\n'.join(lines).encode('utf-8')


def command_convert(src, dst, layouts_path, out):
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.multiprocess import MultiProcessCollector
    with open(layouts_path) as f:
        layouts = json.load(f)
    os.makedirs(dst, exist_ok=True)
    files = []
    for name in os.listdir(src):  # the order glob (and our reader) sees
        if name.endswith('.db'):
            files.append(convert_file(os.path.join(src, name), os.path.join(dst, name), layouts[name]))

    merged = list(MultiProcessCollector.merge(files, accumulate=True))

    class Converted:
        def collect(self):
            return merged

    registry = CollectorRegistry(support_collectors_without_names=True)
    registry.register(Converted())
    with open(out, 'wb') as f:
        f.write(pre04_counter_headers(merged, generate_latest(registry)))


def main(argv):
    import argparse
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest='command', required=True)
    w = sub.add_parser('write')
    w.add_argument('directory')
    w.add_argument('--seed', type=int, default=1)
    w.add_argument('--workers', type=int, default=4)
    w.add_argument('--dead', type=int, default=1)
    w.add_argument('--first-worker', type=int, default=0)
    w.add_argument('--golden', action='store_true', help='values that follow scripts/golden\'s ORDER RULE')
    w.add_argument('--uniform-help', action='store_true',
                   help='HELP "Multiprocess metric" everywhere, so files of releases with and without help agree')
    r = sub.add_parser('record')
    r.add_argument('directory')
    r.add_argument('out')
    s = sub.add_parser('steps')
    s.add_argument('directory')
    s.add_argument('--seed', type=int, default=1)
    c = sub.add_parser('convert')
    c.add_argument('src')
    c.add_argument('dst')
    c.add_argument('layouts')
    c.add_argument('out')
    args = parser.parse_args(argv)
    if args.command == 'write':
        command_write(args.directory, args.seed, args.workers, args.dead, args.first_worker, args.golden, args.uniform_help)
    elif args.command == 'record':
        command_record(args.directory, args.out)
    elif args.command == 'steps':
        command_steps(os.path.abspath(args.directory), args.seed)
    else:
        command_convert(args.src, args.dst, args.layouts, args.out)


if __name__ == '__main__':
    main(sys.argv[1:])
