#!/usr/bin/env python3
"""Textfiles (--textfile.directory) against the real prometheus_client and the real promtool.

    python3 scripts/textfile_checks.py --binary .build/debug/multiproc-exporter [--cases 200] [--seed N]

1. round trip: a registry with Info, Enum, a counter, a histogram, a summary, a UTF-8 name and
   a custom collector (gauge, summary, unknown, counter with _created, gauge histogram) is
   written with the real `write_to_textfile`, beside a .db directory written by real
   multiprocess workers. For every Accept header of the golden table, `dump` must serve what
   prometheus_client serves for the .db directory plus that registry: every family block of
   a text body byte for byte as Python writes it (order of lines included), OpenMetrics too
   except what the text format cannot carry (Info, Enum and gauge histograms are gauges and
   histograms there: Python's side gets exactly those three turned into what the text holds,
   `AsReadFromText`); and every family block of the file, in text 0.0.4, as the file has it.
   Files written with each escaping `write_to_textfile` offers are served as well, without
   problems.
2. rewrites: `serve` sees a file rewritten by `write_to_textfile` on the very next scrape
   (values, mtime), a file removed, a bad file and its repair; 200 throughout.
3. promtool: random textfiles (valid and broken lines of every kind, `--cases`) and the fuzz
   seeds: whatever our parser accepts, promtool (Go's expfmt) accepts too, and promtool never
   refuses our output (`dump` of the file, text 0.0.4); files promtool refuses, we refuse.
   Exceptions, checked to be exactly these: we refuse more (timestamps, as node_exporter;
   histogram/summary lines the Go parser would silently drop; label names an escaping writes
   alike; HELP text that is not UTF-8, which Go keeps as bytes), and this
   promtool (Prometheus 2.42) predates quoted UTF-8 names and `\\"` in HELP, which we accept
   as newer parsers and write_to_textfile do.
4. examples/textfiles: each recipe runs once and its metrics are served.

Exits 1 with a diff or the failing case on the first failure.
"""
import argparse
import os
import random
import re
import shutil
import subprocess
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(HERE, 'golden'))
sys.path.insert(0, os.path.join(HERE, 'lib'))

import record  # noqa: E402
import testkit  # noqa: E402


Failure = testkit.Failure
check = testkit.check


# MARK: - 1. round trip against prometheus_client

def textfile_registry():
    from prometheus_client import CollectorRegistry, Counter, Enum, Gauge, Histogram, Info, Summary
    from prometheus_client.core import (CounterMetricFamily, GaugeHistogramMetricFamily, GaugeMetricFamily,
                                        SummaryMetricFamily, UnknownMetricFamily)
    registry = CollectorRegistry()
    Info('app_build', 'Build of the app.', registry=registry).info({'version': '1.4.2', 'commit': 'a"b\\c\nd'})
    Enum('app_phase', 'Phase of the app.', states=['starting', 'serving', 'draining'], registry=registry).state('serving')
    jobs = Counter('batch_jobs', 'Jobs processed.', ['kind'], registry=registry)
    jobs.labels('import').inc(3)
    jobs.labels('export').inc(0.25)
    latency = Histogram('batch_seconds', 'Batch durations.', ['kind'], buckets=[0.5, 10, float('inf')], registry=registry)
    latency.labels('import').observe(0.25)
    latency.labels('import').observe(42)
    Summary('batch_bytes', 'Batch sizes.', registry=registry).observe(1e10)
    Gauge('app.queue.depth', 'A UTF-8 name.', ['queue.name'], registry=registry).labels('high').set(float('nan'))

    class Custom:
        def collect(self):
            depth = GaugeMetricFamily('broker_queue_depth', 'Messages waiting, read from the broker.', labels=['queue'])
            depth.add_metric(['default'], 12)
            depth.add_metric(['low "prio"'], 1.5e-7)
            yield depth
            yield SummaryMetricFamily('broker_latency', 'Broker round trips.', count_value=4, sum_value=0.1)
            yield UnknownMetricFamily('broker_weird', 'Something unknown.', value=-3)
            yield CounterMetricFamily('broker_reconnects', 'Reconnects.', value=2, created=1700000000.25)
            yield GaugeHistogramMetricFamily('broker_backlog', 'Backlog.', buckets=[('1.0', 4), ('+Inf', 5)], gsum_value=3)

    registry.register(Custom())
    return registry


def python_body(db, registry, accept):
    from prometheus_client import CollectorRegistry
    from prometheus_client.exposition import choose_encoder
    from prometheus_client.multiprocess import MultiProcessCollector
    combined = CollectorRegistry()
    MultiProcessCollector(combined, path=db)
    combined.register(AsReadFromText(registry))
    encoder, _ = choose_encoder(accept or '')
    return encoder(combined)


def blocks(body):
    """[(family header lines, sample lines in order)], a family starting at each `# HELP`."""
    out = []
    for line in body.decode().split('\n'):
        if not line or line == '# EOF':
            continue
        if line.startswith('# HELP '):
            out.append(([line], []))
        elif line.startswith('#'):
            out[-1][0].append(line)
        else:
            out[-1][1].append(line)
    return out


class AsReadFromText:
    """`registry` as the text format carries it, which is what a textfile holds: an Info `x`
    is the gauge `x_info`, an Enum (stateset) a gauge, a gauge histogram a histogram of its
    buckets with its `_gcount` and `_gsum` in gauges of their own. The text format writes the
    registry and this alike; OpenMetrics shows the difference, and nothing else may differ."""

    def __init__(self, registry):
        self.registry = registry

    def collect(self):
        from prometheus_client.metrics_core import Metric
        for metric in self.registry.collect():
            if metric.type not in ('info', 'stateset', 'gaugehistogram'):
                yield metric
                continue
            name = metric.name + '_info' if metric.type == 'info' else metric.name
            kind = 'histogram' if metric.type == 'gaugehistogram' else 'gauge'
            main = Metric(name, metric.documentation, kind)
            main.samples = [s for s in metric.samples if not s.name.endswith(('_gcount', '_gsum'))]
            yield main
            for suffix in ('_gcount', '_gsum') if metric.type == 'gaugehistogram' else ():
                extra = Metric(metric.name + suffix, metric.documentation, 'gauge')
                extra.samples = [s for s in metric.samples if s.name == metric.name + suffix]
                yield extra


def dump(binary, db, textfiles, accept=None, check_clean=True):
    cmd = [binary, 'dump', '--multiproc-dir', db, '--textfile.directory', textfiles]
    if accept is not None:
        cmd += ['--accept', accept]
    result = subprocess.run(cmd, capture_output=True, timeout=60)
    check(result.returncode == 0, f'{cmd} exited {result.returncode}: {result.stderr.decode()}')
    if check_clean:
        check(not result.stderr, f'{cmd} warned: {result.stderr.decode()}')
    return result.stdout, result.stderr.decode()


def diff(expected, actual):
    import difflib
    return '\n'.join(difflib.unified_diff(expected, actual, 'python', 'ours', lineterm=''))


def round_trip(binary, work):
    from prometheus_client import write_to_textfile
    db = os.path.join(work, 'db')
    subprocess.run([sys.executable, os.path.join(HERE, 'demo_dir.py'), db], check=True, capture_output=True)
    textfiles = os.path.join(work, 'textfiles')
    os.makedirs(textfiles)
    registry = textfile_registry()
    write_to_textfile(os.path.join(textfiles, 'app.prom'), registry)
    textfile_names = {header[1].split(' ')[2] for header, _ in blocks(open(os.path.join(textfiles, 'app.prom'), 'rb').read())}
    for slug, accept in record.ACCEPT_HEADERS:
        expected = python_body(db, registry, accept)
        openmetrics = expected.endswith(b'# EOF\n')
        actual, _ = dump(binary, db, textfiles, accept)
        want, got = record.normalize_body(expected, openmetrics), record.normalize_body(actual, openmetrics)
        check(want == got, f'{slug}: the merged body differs\n' + diff(record.render_normalized(want), record.render_normalized(got)))
        if not openmetrics:
            # Text formats: every textfile family exactly as Python writes it, line order included.
            python_blocks = {tuple(h): s for h, s in blocks(expected)}
            for header, samples in blocks(actual):
                if header[1].split(' ')[2] in textfile_names:
                    check(python_blocks.get(tuple(header)) == samples, f'{slug}: {header} lines {samples} != {python_blocks.get(tuple(header))}')
    file_text = open(os.path.join(textfiles, 'app.prom'), 'rb').read()
    served = dump(binary, db, textfiles)[0]
    for header, samples in blocks(file_text):
        if '"' not in header[1]:  # a quoted (UTF-8) name is escaped in text 0.0.4, as Python escapes it
            check('\n'.join(header + samples) in served.decode(), f'{header[0]}: not served as the file wrote it')
    for escaping in ('underscores', 'dots', 'values'):
        other = os.path.join(work, 'textfiles-' + escaping)
        os.makedirs(other)
        write_to_textfile(os.path.join(other, 'app.prom'), registry, escaping=escaping)
        dump(binary, db, other)
    print(f'round trip: {len(record.ACCEPT_HEADERS)} Accept headers, .db + textfile equal to prometheus_client')


# MARK: - 2. rewrites seen on the next scrape

class Server:
    def __init__(self, binary, db, textfiles, work):
        self.log_path = os.path.join(work, 'serve.log')
        self.log = open(self.log_path, 'w')
        self.process = subprocess.Popen([binary, 'serve', '--multiproc-dir', db, '--textfile.directory', textfiles,
                                         '--web.listen-address', '127.0.0.1:0'], stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            match = re.search(r'msg=listening address=127\.0\.0\.1:(\d+)', open(self.log_path).read())
            if match:
                self.port = int(match.group(1))
                return
            time.sleep(0.02)
        raise Failure('serve did not start: ' + open(self.log_path).read())

    def scrape(self):
        with urllib.request.urlopen(f'http://127.0.0.1:{self.port}/metrics', timeout=10) as response:
            check(response.status == 200, f'status {response.status}')
            return response.read().decode()

    def stop(self):
        self.process.terminate()
        self.process.wait(10)
        self.log.close()


def rewrites(binary, work):
    from prometheus_client import CollectorRegistry, Gauge, write_to_textfile
    db = os.path.join(work, 'db-rewrites')
    os.makedirs(db)
    textfiles = os.path.join(work, 'textfiles-rewrites')
    os.makedirs(textfiles)
    path = os.path.join(textfiles, 'job.prom')
    registry = CollectorRegistry()
    gauge = Gauge('job_last_success_unixtime', 'Last success.', registry=registry)
    server = Server(binary, db, textfiles, work)
    try:
        for value in (1.0, 2.0, 3.5):
            gauge.set(value)
            write_to_textfile(path, registry)
            mtime = int(os.stat(path).st_mtime)
            body = testkit.samples(server.scrape())
            check(body.get(('job_last_success_unixtime', ())) == value, f'rewrite to {value} not seen: {body}')
            check(body.get(('multiproc_exporter_textfile_mtime_seconds', (('file', path),))) == mtime, 'mtime')
            check(body.get(('multiproc_exporter_textfile_scrape_error', ())) == 0, 'scrape_error')
        with open(path + '.tmp', 'w') as f:
            f.write('job_last_success_unixtime{ 4\n')
        os.rename(path + '.tmp', path)
        body = testkit.samples(server.scrape())
        check(('job_last_success_unixtime', ()) not in body, 'a broken file is left out')
        check(body.get(('multiproc_exporter_textfile_scrape_error', ())) == 1, 'scrape_error while broken')
        check(body.get(('multiproc_exporter_textfile_errors_total', (('reason', 'parse_error'),))) == 1, 'counted')
        write_to_textfile(path, registry)
        body = testkit.samples(server.scrape())
        check(body.get(('job_last_success_unixtime', ())) == 3.5 and body.get(('multiproc_exporter_textfile_scrape_error', ())) == 0,
              'repaired file served again')
        os.unlink(path)
        body = testkit.samples(server.scrape())
        check(('job_last_success_unixtime', ()) not in body and not any(k[0] == 'multiproc_exporter_textfile_mtime_seconds' for k in body),
              'a removed file is gone')
    finally:
        server.stop()
    print('rewrites: seen on the next scrape, broken and repaired, removed')


# MARK: - 3. promtool

def promtool(text):
    """(accepted, message) of `promtool check metrics` (lint findings are not refusals)."""
    result = subprocess.run(['promtool', 'check', 'metrics'], input=text, capture_output=True, timeout=30)
    out = (result.stdout + result.stderr).decode(errors='replace')
    refused = 'error while linting' in out
    check(result.returncode in (0, 3) or refused, f'promtool exited {result.returncode}: {out}')
    return not refused, out


NAMES = ['a', 'b_total', 'h', 'h_bucket', 'h_count', 'h_sum', 's', 's_count', 's_sum', 'c_created', 'x:y', '_', 'a_b']
LABELS = ['l', 'le', 'quantile', 'k2', '__name__', 'a_b']
VALUES = ['1', '-1', '0', '1.5', '+Inf', '-Inf', 'NaN', 'nan', 'inf', '1e3', '.5', '1.', '1e400', '0x1p3', '1_0', '', 'x', '+NaN',
          '-0', '1e-400', 'Infinity']
HELPS = ['doc', '', 'a\\\\b', 'a\\nb', 'x\\y', 'é', 'q\\"']
LABEL_VALUES = ['"v"', '"1"', '"+Inf"', '"0.5"', '""', '"a\\"b"', '"a\\\\b"', '"a\\nb"', '"\\t"', 'v', '"NaN"', '"ü"']


def random_line(rng):
    kind = rng.random()
    name = rng.choice(NAMES)
    if kind < 0.15:
        return f'# TYPE {name} {rng.choice(["counter", "gauge", "histogram", "summary", "untyped", "COUNTER", "info", "gaugehistogram", ""])}'
    if kind < 0.25:
        return f'# HELP {name} {rng.choice(HELPS)}'
    if kind < 0.3:
        return rng.choice(['', '# comment', '#', '  ', '\t', '#  HELP', '# TYPE'])
    labels = []
    for _ in range(rng.choice([0, 0, 1, 1, 2, 3])):
        labels.append(f'{rng.choice(LABELS)}={rng.choice(LABEL_VALUES)}')
    label_text = ''
    if labels or rng.random() < 0.1:
        label_text = '{' + ','.join(labels) + rng.choice(['', '', ',', ' ']) + '}'
    line = f'{name}{rng.choice(["", "", " "]) if label_text else ""}{label_text} {rng.choice(VALUES)}'
    if rng.random() < 0.05:
        line += rng.choice([' 1700000000000', ' 1.5', ' ', ' 1 2'])
    return line


def random_file(rng):
    text = '\n'.join(random_line(rng) for _ in range(rng.randint(1, 12)))
    return text + rng.choice(['\n', '\n', '\n', '', '\r\n'])


# Our refusals of a whole file that promtool accepts: exactly these reasons.
STRICTER = ('timestamps', 'histogram "', 'histogram bucket', 'negative', 'summary sample without', "label on a",
            "for 'le' label", "for 'quantile' label", 'duplicate label name', 'are one name with escaping', 'not valid UTF-8')


def promtool_differential(binary, work, cases, seed):
    rng = random.Random(seed)
    db = os.path.join(work, 'db-promtool')
    os.makedirs(db)
    textfiles = os.path.join(work, 'textfiles-promtool')
    inputs = [random_file(rng).encode() for _ in range(cases)]
    for directory in (os.path.join(ROOT, 'Fuzz', 'seeds', 'textfile'), os.path.join(ROOT, 'fuzz-corpus-work', 'textfile')):
        if os.path.isdir(directory):
            inputs += [open(os.path.join(directory, n), 'rb').read() for n in sorted(os.listdir(directory))[:150]]
    accepted = refused = stricter = partly = 0
    for index, data in enumerate(inputs):
        shutil.rmtree(textfiles, ignore_errors=True)
        os.makedirs(textfiles)
        open(os.path.join(textfiles, 'case.prom'), 'wb').write(data)
        output, warnings = dump(binary, db, textfiles, check_clean=False)
        # A whole file refused; families left out of a file that parsed (a repeated sample, a
        # name two families take) do not count: the rest of the file is served.
        ours = ': parse_error: ' not in warnings and ': timestamp: ' not in warnings
        theirs, message = promtool(data)
        case = f'case {index} (seed {seed}):\n{data!r}\nours: {warnings or "accepted"}\npromtool: {message}'
        ok, out = promtool(output)
        check(ok, f'promtool refuses our output of {case}\noutput:\n{output.decode()}\n{out}')
        newer_syntax = b'"' in data.split(b'{')[0] or b'{"' in data or b'# HELP "' in data or b'# TYPE "' in data \
            or b',"' in data or re.search(rb'# HELP[^\n]*\\"', data) is not None
        if ours:
            accepted += 1
            partly += bool(warnings)
            check(theirs or newer_syntax, f'we accept what promtool refuses: {case}')
        elif theirs and not newer_syntax:
            stricter += 1
            check(any(reason in warnings for reason in STRICTER), f'we refuse what promtool accepts: {case}')
        else:
            refused += 1
    print(f'promtool: {len(inputs)} files ({accepted} served, {partly} of them with families left out, {refused} refused by both, '
          f'{stricter} refused by us only, '
          f'each for a documented reason); promtool accepted our output of every one')


# MARK: - 4. examples/textfiles

def examples(binary, work):
    textfiles = os.path.join(work, 'textfiles-examples')
    os.makedirs(textfiles)
    db = os.path.join(work, 'db-examples')
    os.makedirs(db)
    env = dict(os.environ, TEXTFILE_DIR=textfiles)
    folder = os.path.join(ROOT, 'examples', 'textfiles')
    subprocess.run([sys.executable, os.path.join(folder, 'app_info.py')], env=env, check=True)
    subprocess.run([sys.executable, os.path.join(folder, 'queue_depth.py'), '--once'], env=env, check=True)
    subprocess.run([sys.executable, os.path.join(folder, 'nightly_job.py')], env=env, check=True)
    body = testkit.samples(dump(binary, db, textfiles)[0].decode())
    names = {name for name, _ in body}
    for wanted in ('myapp_build_info', 'myapp_config_mode', 'myapp_queue_depth', 'nightly_report_last_success_unixtime',
                   'nightly_report_rows', 'nightly_report_duration_seconds'):
        check(wanted in names, f'examples/textfiles: {wanted} not served: {sorted(names)}')
    check(not [f for f in os.listdir(textfiles) if not f.endswith('.prom')], 'temporary files left behind')
    print('examples/textfiles: the three recipes are served')


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--binary', required=True)
    parser.add_argument('--cases', type=int, default=200)
    parser.add_argument('--seed', type=int, default=random.randrange(1 << 30))
    args = parser.parse_args()
    binary = os.path.abspath(args.binary)

    def checks(work):
        round_trip(binary, work)
        rewrites(binary, work)
        if shutil.which('promtool'):
            promtool_differential(binary, work, args.cases, args.seed)
        elif os.environ.get('REQUIRE_INTEGRATION') == '1':
            raise Failure('promtool not found: apt-get install prometheus')
        else:
            print('SKIPPED promtool checks: promtool not installed (apt-get install prometheus)')
        examples(binary, work)

    testkit.run_checks('textfile-checks-', checks)

if __name__ == '__main__':
    main()
