#!/usr/bin/env python3
"""Write a multiprocess metric directory with real prometheus_client worker processes.

Library and CLI. Each worker is a forked child that sets PROMETHEUS_MULTIPROC_DIR and only
then imports prometheus_client (the value class is chosen at import time), creates its
metrics and updates them. Workers run one after another, so `mostrecent` timestamps of
different pids are strictly increasing. After a worker has exited, workers planned as dead
are marked dead with prometheus_client.multiprocess.mark_process_dead(pid); the others stay
"live" (their files remain).

    workload.py OUTDIR --profile kitchen_sink --seed 1 [--trim]   # prints a JSON manifest

Profiles: kitchen_sink, dead_and_live_pids, histogram_custom_buckets, histogram_nan_bound, utf8_names,
special_floats, gauge_modes, empty_directory, corrupt_base (small, for damaged copies) and
random (conformance: random values, label sets, 3-8 workers, random dead subset).

ORDER RULE for directories that are committed as fixtures: the order in which Python merges
files is readdir order, which a git checkout does not preserve. So every series that is
combined across several pids uses values whose combination does not depend on order:
integers or dyadic fractions (0.5, 0.25, 1.75) of modest size for sums (counters, summaries,
histogram sums, sum gauges); no NaN and no mix of +0.0/-0.0 in min/max gauges across pids;
distinct timestamps for mostrecent gauges (workers run sequentially). A metric's type, help
and gauge mode are the same in every pid. Any float (0.1, NaN, 1e-300, ...) is fine in a
series only one pid writes, and in `all`/`liveall` gauges (one series per pid). Only the
`random` profile breaks this rule, because conformance.py reads the directory it just wrote
with Python and our binary in the same readdir order.

What the client refuses (and is therefore never written): label names starting with `__`,
`le` on histograms, `quantile` on summaries, and histograms with fewer than two buckets
(`buckets=[inf]`). What it accepts and we do write: metric names with dots, spaces, quotes,
backslashes, newlines, emoji, a leading digit; empty label names; a `pid` label on gauges;
NaN and duplicate bucket bounds. Lone surrogates in label values are accepted too, but then
Python cannot serve the directory at all: only the corrupt_lone_surrogate case has one
(fixtures.py stores the bytes the writer would).
"""
import argparse
import json
import math
import os
import random
import struct
import sys
import time
import traceback

GAUGE_MODES = ['all', 'liveall', 'min', 'livemin', 'max', 'livemax',
               'sum', 'livesum', 'mostrecent', 'livemostrecent']

MAX_FLOAT = 1.7976931348623157e308
SPECIAL_FLOATS = [math.inf, -math.inf, math.nan, 5e-324, -5e-324, 1e-300, MAX_FLOAT, -MAX_FLOAT,
                  1e22, 12345678.5, -12345678.5, 0.1, -0.0, 0.0, 1e16, 1e15, 1e17, 123456.7,
                  999999.0, 1000000.0, 1234567.0, 0.0001, 0.00001, 2.0 ** 53, 2.0 ** 53 + 2,
                  2.2250738585072014e-308, 1 / 3]

# Label values and names that exercise escaping and Unicode handling.
WEIRD_VALUES = ['é', 'e\u0301', '🚀', '日本語', 'a\u0308\u0301', 'quote"d', 'back\\slash',
                'new\nline', '', ' spaced ', 'tab\there', 'Ω≈ç√', 'end\\', 'ctl\r\x00\x7f\u2028']
WEIRD_LABEL_NAMES = ['a b', 'é', '1x', 'dotted.name', 'with-dash', 'a:b', '']
WEIRD_METRIC_NAMES = ['my.metric', 'ns:sub:metric', '1st_metric', '🚀_rockets', '日本_gauge',
                      'name with space', 'quote"name', 'back\\slash', 'a\nb', 'trailing_newline\n',
                      'e\u0301_decomposed', 'é_precomposed']
WEIRD_HELPS = ['back\\slash', 'new\nline', 'quote"d', 'héllo 🚀 日本', '', 'ends with \\',
               'tab\tand \\n literal', '# HELP inside help']


# MARK: - Operations (planned in the parent, executed in a worker)

def op(kind, name, help_text, labels=None, action='inc', value=1.0, mode=None, buckets=None):
    """One metric update. `labels` is a list of (name, value) pairs in declaration order."""
    labels = list(labels or [])
    return {'kind': kind, 'name': name, 'help': help_text,
            'labelnames': [k for k, _ in labels], 'labelvalues': [v for _, v in labels],
            'action': action, 'value': value, 'mode': mode, 'buckets': buckets}


def counter(name, help_text, labels=None, value=1.0):
    return op('counter', name, help_text, labels, 'inc', value)


def gauge(name, help_text, mode, labels=None, action='set', value=1.0):
    return op('gauge', name, help_text, labels, action, value, mode=mode)


def histogram(name, help_text, labels=None, value=1.0, buckets=None):
    return op('histogram', name, help_text, labels, 'observe', value, buckets=buckets)


def summary(name, help_text, labels=None, value=1.0):
    return op('summary', name, help_text, labels, 'observe', value)


def _execute(ops, pc):
    """Runs in the worker, with prometheus_client imported in multiprocess mode."""
    classes = {'counter': pc.Counter, 'gauge': pc.Gauge, 'histogram': pc.Histogram, 'summary': pc.Summary}
    cache = {}
    for o in ops:
        key = (o['kind'], o['name'], o['help'], tuple(o['labelnames']), o['mode'], repr(o['buckets']))
        metric = cache.get(key)
        if metric is None:
            kwargs = {'registry': None}  # never registered: names may repeat across types
            if o['kind'] == 'gauge':
                kwargs['multiprocess_mode'] = o['mode']
            if o['kind'] == 'histogram' and o['buckets'] is not None:
                kwargs['buckets'] = o['buckets']
            metric = classes[o['kind']](o['name'], o['help'], o['labelnames'], **kwargs)
            cache[key] = metric
        target = metric.labels(*o['labelvalues']) if o['labelnames'] else metric
        action, value = o['action'], o['value']
        if action == 'inc':
            target.inc(value)
        elif action == 'dec':
            target.dec(value)
        elif action == 'set':
            target.set(value)
        elif action == 'observe':
            target.observe(value)
        elif action == 'now':
            target.set_to_current_time()
        elif action == 'touch':
            pass  # labels() alone creates the entry (value 0.0, timestamp 0.0)
        else:
            raise ValueError(f'unknown action {action}')


def _worker_main(directory, ops):
    os.environ['PROMETHEUS_MULTIPROC_DIR'] = directory
    # The parent may have imported prometheus_client (record.py, mark_process_dead): forget
    # it, so that the value class is chosen again, now with the variable set.
    for name in [m for m in sys.modules if m == 'prometheus_client' or m.startswith('prometheus_client.')]:
        del sys.modules[name]
    import prometheus_client as pc
    from prometheus_client import values
    assert values.ValueClass.__name__ == 'MmapedValue', 'prometheus_client is not in multiprocess mode'
    _execute(ops, pc)


def run_workers(directory, workers):
    """Forks one worker per plan, sequentially; marks the dead ones dead after they exit.

    `workers` is a list of {'ops': [...], 'dead': bool}. Returns the manifest."""
    os.makedirs(directory, exist_ok=True)
    directory = os.path.abspath(directory)
    pids = []
    for plan in workers:
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                _worker_main(directory, plan['ops'])
                code = 0
            except BaseException:
                traceback.print_exc()
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        if status != 0:
            raise RuntimeError(f'worker {pid} failed with status {status}')
        pids.append(pid)
        # Keep timestamps of consecutive workers apart even on a coarse clock.
        time.sleep(0.002)
    if len(set(pids)) != len(pids):
        raise RuntimeError(f'pid reused among workers: {pids}')
    from prometheus_client.multiprocess import mark_process_dead
    dead = [pid for pid, plan in zip(pids, workers) if plan.get('dead')]
    for pid in dead:
        mark_process_dead(pid, path=directory)
    return {'directory': directory, 'pids': pids, 'dead': dead,
            'live': [p for p in pids if p not in dead]}


def trim_db_files(directory):
    """Truncates every .db file to its `used` size rounded up to 8 (Python reads no further)."""
    for name in sorted(os.listdir(directory)):
        path = os.path.join(directory, name)
        if not name.endswith('.db') or not os.path.isfile(path) or os.path.islink(path):
            continue
        with open(path, 'r+b') as f:
            head = f.read(4)
            if len(head) < 4:
                continue
            used = struct.unpack('<i', head)[0]
            if used >= 8:
                f.truncate((used + 7) // 8 * 8)


# MARK: - Profiles (each returns a list of worker plans)

def profile_kitchen_sink(rng):
    workers = []
    n = 5
    for w in range(n):
        ops = []
        # Counters: sums across pids, dyadic amounts; weird label values as different series.
        for i, v in enumerate(WEIRD_VALUES):
            ops.append(counter('requests_total', 'Requests "served"\nby path \\ method',
                               [('path', v), ('method', 'GET' if i % 2 else 'POST')], 0.25 * (w + 1) + i))
        ops.append(counter('métrique_total', 'Une métrique à 🚀', [('région', 'Île-de-France')], 1.5))
        ops.append(counter('my.dotted.counter', 'dotted counter', [('dotted.name', 'x')], 2))
        ops.append(counter('ns:sub:requests', 'colon counter', None, 3))
        # Label names that need escaping, on a sum gauge (combined across pids).
        labels = [(name, f'v{j}') for j, name in enumerate(WEIRD_LABEL_NAMES)]
        ops.append(gauge('weird_label_names', 'label names that need escaping', 'sum', labels, 'inc', 0.5))
        # Gauges in every mode, with a label; values dyadic and distinct per pid.
        for mode in GAUGE_MODES:
            if mode in ('mostrecent', 'livemostrecent'):
                ops.append(gauge(f'g_{mode}', f'gauge in {mode} mode', mode, [('k', 'v')], 'set', 10.5 - w))
            else:
                ops.append(gauge(f'g_{mode}', f'gauge in {mode} mode', mode, [('k', 'v')], 'set', (w - 2) * 0.75))
        # A user `pid` label: overwritten by the file's pid (all), dropped (sum).
        ops.append(gauge('g_user_pid_all', 'user pid label, all mode', 'all', [('pid', 'user')], 'set', w))
        ops.append(gauge('g_user_pid_sum', 'user pid label, sum mode', 'sum', [('pid', 'user'), ('z', 'z')], 'inc', 1))
        # Histograms: default and custom buckets, dyadic observations.
        for x in (0.0625, 0.5, 3, 12, -1):
            ops.append(histogram('latency_seconds', 'default buckets', [('handler', '/é🚀')], x + w))
        for x in (-20, -0.75, 0.25, 1e3 + w):
            ops.append(histogram('custom_buckets', 'negative, tiny and huge bounds', None, x,
                                 buckets=[-10, -0.5, 5e-324, 1e-300, 1, 12345678.5, 1e22, MAX_FLOAT]))
        ops.append(summary('payload_bytes', 'summary of payloads', [('kind', 'json')], 512 * (w + 1)))
        ops.append(summary('payload_bytes', 'summary of payloads', [('kind', 'new\nline')], 0.5))
        # Help texts with escapes, one gauge each (max mode, distinct dyadic values).
        for j, text in enumerate(WEIRD_HELPS):
            ops.append(gauge(f'help_{j}', text, 'max', None, 'set', w * 2 + j))
        # UTF-8 metric names (max mode, combined across pids).
        for name in WEIRD_METRIC_NAMES:
            ops.append(gauge(name, f'metric named {name!r}', 'max', [('w', 'any')], 'set', w))
        # All-mode gauges may hold any float: one series per pid.
        for j, x in enumerate(SPECIAL_FLOATS[:10]):
            ops.append(gauge('special_all', 'special floats, one series per pid', 'all', [('i', str(j))], 'set', x))
        # The same letter precomposed and decomposed: two different series of a sum gauge.
        ops.append(gauge('normalization', 'NFC vs NFD', 'sum', [('letter', 'é')], 'inc', 1))
        ops.append(gauge('normalization', 'NFC vs NFD', 'sum', [('letter', 'e\u0301')], 'inc', 2))
        if w == 3:
            # Touched by one worker only: any float, including non-dyadic ones.
            ops.append(counter('only_one_worker_total', 'written by a single pid', [('x', 'y')], 0.1))
            ops.append(counter('only_one_worker_total', 'written by a single pid', [('x', 'inf')], math.inf))
            ops.append(counter('only_one_worker_total', 'written by a single pid', [('x', 'nan')], math.nan))
            ops.append(gauge('only_one_min', 'single pid min', 'min', None, 'set', math.nan))
            ops.append(gauge('only_one_sum', 'single pid sum', 'sum', None, 'set', 1e-300))
            ops.append(summary('only_one_summary', 'single pid summary', None, 0.1))
            ops.append(summary('only_one_summary', 'single pid summary', None, 0.2))
        workers.append({'ops': ops, 'dead': w in (1, 4)})
    return workers


def profile_dead_and_live_pids(rng):
    workers = []
    for w in range(6):
        ops = [counter('jobs_total', 'jobs done', [('queue', q)], w + 1) for q in ('a', 'b')]
        for mode in GAUGE_MODES:
            ops.append(gauge(f'workers_{mode}', f'{mode} gauge', mode, None, 'set', 2 ** w))
            ops.append(gauge(f'workers_{mode}', f'{mode} gauge', mode, None, 'set', 2 ** w))
            ops.append(gauge(f'per_queue_{mode}', f'{mode} gauge per queue', mode, [('queue', 'a')], 'set', w + 0.5))
        ops.append(histogram('job_seconds', 'job durations', None, 0.25 * w, buckets=[0.5, 1, 2]))
        ops.append(summary('job_bytes', 'job sizes', None, 64 * w))
        if w == 2:
            ops.append(gauge('only_in_dead_pid', 'live gauge of a pid that dies', 'livesum', None, 'set', 0.3))
            ops.append(gauge('only_in_dead_pid_all', 'all gauge of a pid that dies', 'all', None, 'set', 0.3))
        workers.append({'ops': ops, 'dead': w in (0, 2, 5)})
    return workers


def profile_histogram_custom_buckets(rng):
    bucket_sets = {
        'default_buckets': None,
        'negative_bounds': [-10, -1, -0.5, 0],
        'tiny_bounds': [5e-324, 1e-300, 1e-10],
        'huge_bounds': [1e22, 1e300, MAX_FLOAT],
        'signed_zero_and_duplicates': [-0.0, 0.0, 1, 1, 2],
        'string_bounds': ['0.5', '1e3', '1234567', '12345678.5'],
        'one_bound': [1],
        'go_switch_bounds': [999999, 1000000, 1234567.5, 1e15, 1e16, 1e17],
    }
    workers = []
    for w in range(4):
        ops = []
        for name, buckets in bucket_sets.items():
            # Huge observations are powers of two, so that sums across pids stay exact.
            observations = [2.0 ** 70, 2.0 ** 80, 2.0 ** 1000] if name == 'huge_bounds' else \
                [x + w for x in (-20, -0.5, 0, 0.25, 0.75, 1, 3, 1e3, 2e6)]
            for x in observations:
                ops.append(histogram(name, f'histogram {name}', [('w', 'all')], x, buckets))
        ops.append(histogram('labelled', 'labels with escapes', [('path', WEIRD_VALUES[w])], 0.5 * w, [1, 2]))
        ops.append(histogram('labelled', 'labels with escapes', [('path', 'shared "one"')], 0.5 * w, [1, 2]))
        if w == 1:
            # Single pid: any observation, infinities.
            for x in (0.1, 1e-300, 5e-324, math.nan, math.inf, -math.inf, 12345678.5):
                ops.append(histogram('single_pid_any_value', 'non-dyadic observations', None, x, [0.1, 1, 1e10]))
        workers.append({'ops': ops, 'dead': w == 3})
    return workers


def profile_histogram_nan_bound(rng):
    """One pid, one histogram whose bounds include NaN (the client accepts it: its sort check
    passes because NaN compares equal to itself by identity). Python keeps the NaN bucket where
    the file has it when it sorts the bounds (every comparison with NaN is false)."""
    ops = [histogram('nan_bound', 'a NaN bucket bound', None, x, [1, math.nan]) for x in (0.5, 2)]
    return [{'ops': ops, 'dead': False}]


def profile_utf8_names(rng):
    workers = []
    for w in range(3):
        ops = []
        for name in WEIRD_METRIC_NAMES:
            ops.append(counter(name + '_total', f'counter {name}', [('é', 'v'), ('a b', 'x')], w + 1))
            ops.append(gauge('g_' + name, f'gauge {name}', 'livesum', [('1x', '🚀')], 'inc', 1))
            ops.append(gauge('all_' + name, f'all gauge {name}', 'all', None, 'set', 0.1 * w))
            ops.append(histogram('h_' + name, f'histogram {name}', [('dotted.name', 'd')], w, [1, 2.5]))
            ops.append(summary('s_' + name, f'summary {name}', [('', 'empty label name')], 2 * w))
        ops.append(counter('legacy_name_total', 'plain', [('legacy', 'yes')], 1))
        ops.append(gauge('💥', 'only emoji', 'max', None, 'set', w))
        ops.append(gauge('x', 'one letter', 'max', [('_', 'underscore label'), ('a_b', 'c')], 'set', w))
        ops.append(gauge('under_score', 'underscores in a name', 'max', [('l_n', 'v')], 'set', w))
        ops.append(gauge('U__already_escaped', 'looks escaped', 'max', None, 'set', w))
        ops.append(gauge('foo_created', 'name ending in _created', 'max', None, 'set', w))
        workers.append({'ops': ops, 'dead': w == 1})
    return workers


def profile_special_floats(rng):
    workers = []
    for w in range(3):
        ops = []
        for j, x in enumerate(SPECIAL_FLOATS):
            ops.append(gauge('special_all', 'every special float, per pid', 'all', [('i', str(j))], 'set', x if w != 1 else -x))
        if w == 0:
            for j, x in enumerate(SPECIAL_FLOATS):
                for mode in ('min', 'max', 'sum', 'mostrecent'):
                    ops.append(gauge(f'single_{mode}', f'single-pid {mode}', mode, [('i', str(j))], 'set', x))
                if not (x < 0):
                    ops.append(counter('single_counter_total', 'single-pid counter', [('i', str(j))], x))
                ops.append(summary('single_summary', 'single-pid summary', [('i', str(j))], x))
        # Across pids: values whose combination is exact in any order.
        ops.append(counter('shared_counter_total', 'dyadic across pids', None, 2 ** 40 + 0.5))
        ops.append(counter('shared_inf_total', 'inf across pids', None, math.inf))
        ops.append(gauge('shared_max', 'max of huge values', 'max', None, 'set', [MAX_FLOAT, 1e22, -MAX_FLOAT][w]))
        ops.append(gauge('shared_min', 'min of tiny values', 'min', None, 'set', [5e-324, 1e-300, -math.inf][w]))
        ops.append(gauge('shared_sum_inf', 'inf + -inf', 'sum', None, 'set', [math.inf, -math.inf, 1][w]))
        ops.append(gauge('shared_sum_big', 'big dyadic sums', 'sum', None, 'set', [12345678.5, 1e15, 2.0 ** 40][w]))
        workers.append({'ops': ops, 'dead': False})
    return workers


def profile_gauge_modes(rng):
    workers = []
    for w in range(5):
        ops = []
        for mode in GAUGE_MODES:
            name = f'mode_{mode}'
            if 'mostrecent' in mode:
                ops.append(gauge(name, f'{mode} gauge', mode, [('series', 'set')], 'set', 100 - 7 * w))
                ops.append(gauge(name, f'{mode} gauge', mode, [('series', 'unset')], 'touch'))
                if w == 4:
                    ops.append(gauge(name, f'{mode} gauge', mode, [('series', 'last_only')], 'set', -2.5))
            else:
                ops.append(gauge(name, f'{mode} gauge', mode, [('series', 'set')], 'set', (w * 3 % 5) - 2.25))
                ops.append(gauge(name, f'{mode} gauge', mode, [('series', 'incdec')], 'inc', w + 0.5))
                ops.append(gauge(name, f'{mode} gauge', mode, [('series', 'incdec')], 'dec', 0.25))
                ops.append(gauge(name, f'{mode} gauge', mode, [('series', 'touched')], 'touch'))
                ops.append(gauge(name, f'{mode} gauge', mode, None, 'set', -w))
            if mode in ('max', 'livemax', 'all', 'mostrecent'):
                ops.append(gauge(name + '_now', f'{mode} set_to_current_time', mode, None, 'now'))
        workers.append({'ops': ops, 'dead': w in (1, 3)})
    return workers


def profile_corrupt_base(rng):
    """A small directory whose files each hold at least three entries."""
    workers = []
    for w in range(2):
        ops = [counter('events_total', 'events', [('kind', k)], w + 1) for k in ('a', 'b', 'c', 'd')]
        ops += [gauge('temperature', 'temperature', 'all', [('room', r)], 'set', 20.5 + w) for r in ('x', 'y', 'z')]
        ops += [gauge('busy_workers', 'busy', 'livesum', [('pool', p)], 'set', 1) for p in ('p', 'q', 'r')]
        ops += [histogram('request_seconds', 'latency', None, x, buckets=[0.5, 1, 2]) for x in (0.25, 1.5)]
        ops += [summary('response_bytes', 'sizes', None, 128)]
        workers.append({'ops': ops, 'dead': False})
    return workers


def profile_empty_directory(rng):
    return []


def profile_random(rng):
    """Random workers for the live conformance check: arbitrary floats allowed."""
    def rand_float():
        r = rng.random()
        if r < 0.1:
            return rng.choice(SPECIAL_FLOATS)
        if r < 0.2:
            while True:
                x = struct.unpack('<d', struct.pack('<Q', rng.getrandbits(64)))[0]
                if not math.isnan(x):
                    return x
        if r < 0.4:
            return float(rng.randint(-10 ** 9, 10 ** 9))
        if r < 0.7:
            return rng.uniform(-1e3, 1e3)
        return rng.lognormvariate(0, 8) * rng.choice((1, -1))

    def rand_label_value():
        return rng.choice(WEIRD_VALUES + [f'v{rng.randint(0, 5)}', 'x' * rng.randint(0, 40)])

    metric_names = [f'rnd_{i}' for i in range(6)] + rng.sample(WEIRD_METRIC_NAMES, 3)
    label_names = ['a', 'b', 'pid'] + rng.sample(WEIRD_LABEL_NAMES, 2)
    shapes = []
    for name in metric_names:
        kind = rng.choice(['counter', 'gauge', 'gauge', 'histogram', 'summary'])
        labels = rng.sample(label_names, rng.randint(0, 3))
        mode = rng.choice(GAUGE_MODES)
        buckets = None
        if kind == 'histogram' and rng.random() < 0.7:
            buckets = sorted(rng.sample([-1e3, -1, -0.0, 0.0, 1e-300, 0.1, 0.5, 1, 2.5, 1e6, 12345678.5, 1e22], rng.randint(1, 6)))
        shapes.append((kind, name, labels, mode, buckets))

    count = rng.randint(3, 8)
    dead = set(rng.sample(range(count), rng.randint(0, count - 1)))
    workers = []
    for w in range(count):
        ops = []
        for kind, name, labels, mode, buckets in shapes:
            help_text = f'help of {name} ' + rng.choice(WEIRD_HELPS)
            for _ in range(rng.randint(0, 4)):
                lv = [(l, rand_label_value()) for l in labels]
                x = rand_float()
                if kind == 'counter':
                    ops.append(counter(name, help_text, lv, abs(x)))
                elif kind == 'gauge':
                    action = 'set' if 'mostrecent' in mode else rng.choice(['set', 'inc', 'dec', 'touch', 'now'])
                    ops.append(gauge(name, help_text, mode, lv, action, x))
                elif kind == 'histogram':
                    ops.append(histogram(name, help_text, lv, x, buckets))
                else:
                    ops.append(summary(name, help_text, lv, x))
        # Rolling-deploy conflicts: help, gauge mode and even type differ between pids.
        if rng.random() < 0.5:
            ops.append(gauge('conflict_help', f'help version {w}', 'sum', None, 'set', rand_float()))
        if rng.random() < 0.5:
            ops.append(gauge('conflict_mode', 'mode differs by pid', rng.choice(GAUGE_MODES), [('a', 'b')], 'set', rand_float()))
        if rng.random() < 0.3:
            if rng.random() < 0.5:
                ops.append(counter('conflict_type', 'type differs by pid', None, abs(rand_float())))
            else:
                ops.append(gauge('conflict_type', 'type differs by pid', rng.choice(GAUGE_MODES), None, 'set', rand_float()))
        if rng.random() < 0.5:
            bounds = sorted(rng.sample([0.25, 0.5, 1, 2, 4, 1e3], rng.randint(1, 4)))
            ops.append(histogram('conflict_buckets', 'bucket bounds differ by pid', None, rand_float(), bounds))
        if rng.random() < 0.3:
            # Name clashes: counter `clash` is announced as `clash_total`, like the gauge.
            ops.append(counter('clash', 'counter clash', None, 1))
            ops.append(gauge('clash_total', 'gauge clash', 'all', None, 'set', rand_float()))
        if rng.random() < 0.15:
            # A key longer than the initial 64 KiB file: the writer grows the file.
            ops.append(counter('big_key_total', 'a 70 KB label value', [('v', 'x' * 70000)], 1))
        workers.append({'ops': ops, 'dead': w in dead})
    return workers


PROFILES = {
    'kitchen_sink': profile_kitchen_sink,
    'dead_and_live_pids': profile_dead_and_live_pids,
    'histogram_custom_buckets': profile_histogram_custom_buckets,
    'histogram_nan_bound': profile_histogram_nan_bound,
    'utf8_names': profile_utf8_names,
    'special_floats': profile_special_floats,
    'gauge_modes': profile_gauge_modes,
    'empty_directory': profile_empty_directory,
    'corrupt_base': profile_corrupt_base,
    'random': profile_random,
}


def build(directory, profile, seed=0, trim=False):
    """Writes `profile` into `directory` with real workers; returns the manifest."""
    workers = PROFILES[profile](random.Random(seed))
    manifest = run_workers(directory, workers)
    if trim:
        trim_db_files(directory)
    manifest.update(profile=profile, seed=seed)
    return manifest


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('directory')
    parser.add_argument('--profile', default='kitchen_sink', choices=sorted(PROFILES))
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--trim', action='store_true', help='truncate each .db file to its used size')
    args = parser.parse_args(argv)
    manifest = build(args.directory, args.profile, args.seed, args.trim)
    print(json.dumps(manifest))


if __name__ == '__main__':
    main()
