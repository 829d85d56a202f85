#!/usr/bin/env python3
"""Record what prometheus_client 0.26.0 serves for a multiprocess directory, per Accept header.

    record.py DBDIR OUTDIR [--headers all|corrupt]

runs Python's collector exactly as a server does, for each Accept header of ACCEPT_HEADERS:

    registry = CollectorRegistry(support_collectors_without_names=True)
    MultiProcessCollector(registry, path=DBDIR)
    encoder, content_type = choose_encoder(accept)
    body = encoder(registry)

and writes OUTDIR/index.json (a list of {slug, accept, content_type}; accept is null for "no
header") and OUTDIR/<slug>.body (the exact bytes).

Also a library: `scrape`, `ACCEPT_HEADERS` and `normalize_body` (the family/sample order
normalisation shared with GoldenTests.swift and conformance.py).
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
import testkit  # noqa: E402

PROMETHEUS_2 = ('application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,'
                'text/plain;version=0.0.4;q=0.5,*/*;q=0.1')
PROMETHEUS_3 = ('application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,'
                'application/openmetrics-text;version=0.0.1;q=0.5,'
                'text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2')

# (slug, Accept header or None). Slugs are file names: keep them short and ASCII.
ACCEPT_HEADERS = [
    ('none', None),
    ('text-0.0.4', 'text/plain;version=0.0.4'),
    ('prometheus-2', PROMETHEUS_2),
    ('prometheus-3', PROMETHEUS_3),
    ('om', 'application/openmetrics-text'),
    ('om-1.0.0', 'application/openmetrics-text;version=1.0.0'),
    ('om-0.0.1', 'application/openmetrics-text;version=0.0.1'),
    ('om-1.0.0-charset-utf8', 'application/openmetrics-text; version=1.0.0; charset=utf-8; escaping=allow-utf-8'),
    ('text-1.0.0-allow-utf8', 'text/plain;version=1.0.0;escaping=allow-utf-8'),
    ('text-1.0.0-underscores', 'text/plain;version=1.0.0;escaping=underscores'),
    ('text-1.0.0-dots', 'text/plain;version=1.0.0;escaping=dots'),
    ('text-1.0.0-values', 'text/plain;version=1.0.0;escaping=values'),
    ('om-1.0.0-underscores', 'application/openmetrics-text;version=1.0.0;escaping=underscores'),
    ('om-1.0.0-dots', 'application/openmetrics-text;version=1.0.0;escaping=dots'),
    ('om-1.0.0-values', 'application/openmetrics-text;version=1.0.0;escaping=values'),
    ('any', '*/*'),
    ('json', 'application/json'),
    ('junk', 'ju;nk,, =;;q=x'),
]

# Corrupt cases test what survives a damaged file, not formats: three headers keep them small
# (the default text format, Prometheus 3's OpenMetrics with UTF-8 names, text 1.0.0 with UTF-8).
CORRUPT_SLUGS = ('none', 'prometheus-3', 'text-1.0.0-allow-utf8')


def scrape(directory, accept):
    """(content_type, body) exactly as prometheus_client serves `directory` for `accept`."""
    return testkit.python_exposition(directory, accept or '')


def record(directory, outdir, slugs=None):
    os.makedirs(outdir, exist_ok=True)
    index = []
    for slug, accept in ACCEPT_HEADERS:
        if slugs is not None and slug not in slugs:
            continue
        content_type, body = scrape(directory, accept)
        with open(os.path.join(outdir, slug + '.body'), 'wb') as f:
            f.write(body)
        index.append({'slug': slug, 'accept': accept, 'content_type': content_type})
    with open(os.path.join(outdir, 'index.json'), 'w', encoding='utf-8') as f:
        json.dump(index, f, indent=1, ensure_ascii=False)
        f.write('\n')
    return index


def normalize_body(body, openmetrics):
    """A body as a sorted list of families, each (header lines, sorted sample lines).

    A family starts at a `# HELP` line; its header is that line and the `#` lines right after
    it; the rest are sample lines, compared as a sorted list. Only the order of families and
    of samples within a family is ignored. OpenMetrics bodies must end with exactly one
    `# EOF` line, which is checked and removed. Raises ValueError on a malformed body."""
    if openmetrics:
        if not body.endswith(b'# EOF\n'):
            raise ValueError('OpenMetrics body does not end with "# EOF\\n"')
        body = body[:-len(b'# EOF\n')]
    if body and not body.endswith(b'\n'):
        raise ValueError('body does not end with a newline')
    lines = body.split(b'\n')[:-1] if body else []
    if b'# EOF' in lines:
        raise ValueError('"# EOF" before the end of the body')
    families = []
    for line in lines:
        if line.startswith(b'# HELP ') or not families:
            families.append(([line], []))
        elif line.startswith(b'#') and not families[-1][1]:
            families[-1][0].append(line)
        else:
            families[-1][1].append(line)
    return sorted((tuple(h), tuple(sorted(s))) for h, s in families)


def render_normalized(families):
    """The normalised form as text, for diffs."""
    out = []
    for header, samples in families:
        out.extend(l.decode('utf-8', 'backslashreplace') for l in header)
        out.extend('  ' + l.decode('utf-8', 'backslashreplace') for l in samples)
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('directory')
    parser.add_argument('outdir')
    parser.add_argument('--headers', choices=['all', 'corrupt'], default='all')
    args = parser.parse_args(argv)
    record(args.directory, args.outdir, CORRUPT_SLUGS if args.headers == 'corrupt' else None)


if __name__ == '__main__':
    main()
