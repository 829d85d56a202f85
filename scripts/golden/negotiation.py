#!/usr/bin/env python3
"""Record what prometheus_client 0.26.0's choose_encoder picks for a table of Accept headers.

    negotiation.py OUT.tsv

One line per header: `<accept as a JSON string>\t<content type>\t<syntax>\t<escaping>` where
syntax is `text` (generate_latest) or `openmetrics` (openmetrics.generate_latest) and escaping
is the name escaping the encoder will use. Lines starting with `#` are comments. Headers for
which choose_encoder raises (a version Python cannot compare, such as `1.0.0-rc`: an HTTP 500
in Python) are not recorded; they are listed in the comments as documented deviations: our
negotiation passes such a media range over.
"""
import json
import sys

from prometheus_client import exposition, openmetrics  # noqa: F401
from prometheus_client.openmetrics import exposition as om_exposition

HEADERS = [
    '',
    'text/plain',
    'text/plain;version=0.0.4',
    'text/plain;version=1.0.0',
    'text/plain; version=1.0.0; escaping=allow-utf-8',
    'text/plain;version=1.0.0;escaping=underscores',
    'text/plain;version=1.0.0;escaping=dots',
    'text/plain;version=1.0.0;escaping=values',
    'text/plain;version=1.0.0;escaping=bogus',
    'text/plain;version=1.0.0;escaping=',
    'text/plain;version=1.0.0;escaping',
    'text/plain;version=1.0.0;escaping=allow-utf-8;escaping=dots',
    'text/plain;version=1.0.0;escaping=dots;escaping=allow-utf-8',
    'text/plain;version=1.0.0;ESCAPING=allow-utf-8',
    'text/plain;version=1.0.0;escaping=Allow-UTF-8',
    'text/plain;version=2.0.0',
    'text/plain;version=10.0.0',
    'text/plain;version=0.9.9',
    'text/plain;version=1.0',
    'text/plain;version=1',
    'text/plain;version=1.0.0.1',
    'text/plain;version=01.0.0',
    'text/plain;version= 1.0.0',
    'text/plain;version=1.0.0 ',
    'text/plain; version =1.0.0',
    'text/plain;version=+1.0.0',
    'text/plain;version=-1.0.0',
    'text/plain;version=1_0.0.0',
    'text/plain;version=\uff11.0.0',
    'text/plain;version=\u0661.0.0',
    'text/plain;version=\u00a01.0.0',
    'text/plain;version=1.0.0;version=0.0.4',
    'text/plain;version=0.0.4;version=1.0.0',
    'text/plain;VERSION=1.0.0',
    'TEXT/PLAIN;version=1.0.0',
    'text/plain ;version=1.0.0',
    '  text/plain ; version=1.0.0 ; escaping=allow-utf-8  ',
    'text/plain;\tversion=1.0.0;\tescaping=dots',
    'text/plain;version=1.0.0;escaping=allow-utf-8\x1c',
    'text/plain;q=0;version=1.0.0',
    'text/plain;version=1.0.0;charset=latin1;escaping=values',
    'text/plain;version=1.0.0;=x;escaping=dots',
    'text/plain;version=1.0.0,application/openmetrics-text',
    'text/plain;version=1.0.0;escaping=allow-utf-8,',
    'text/plain;version=1.0.-0',
    'text/plain;version=1 .0.0',
    'text/plain;version=1.0.0\x85',
    '\u2007text/plain;version=1.0.0;escaping=values\u202f',
    '\u200btext/plain;version=1.0.0',
    'text/plain;version=1.0.0;escaping= allow-utf-8',
    'application/openmetrics-text;version=99999999999999999999999.0.0',
    'application/openmetrics-text;version=1.0.-0;escaping=dots',
    'application/openmetrics-text',
    'application/openmetrics-text;version=1.0.0',
    'application/openmetrics-text;version=0.0.1',
    'application/openmetrics-text;version=0.0.1,text/plain;version=1.0.0;escaping=values',
    'application/openmetrics-text;version=1.0.0;escaping=allow-utf-8',
    'application/openmetrics-text; version=1.0.0; charset=utf-8; escaping=allow-utf-8',
    'application/openmetrics-text;version=1.0.0;escaping=dots',
    'application/openmetrics-text;version=1.0.0;escaping=values',
    'application/openmetrics-text;version=1.0.0;escaping=bogus',
    'application/openmetrics-text;version=1.0.0;escaping=values;escaping=dots',
    'application/openmetrics-text;version=2.0.0;escaping=dots',
    'application/openmetrics-text;version=1.0',
    'application/openmetrics-text;version=1.0.0.1',
    'application/openmetrics-text;version=01.0.0',
    'application/openmetrics-text;version= 1.0.0',
    'application/openmetrics-text;version=',
    'application/openmetrics-text;version=0.0.1;version=1.0.0',
    'application/openmetrics-text;escaping=allow-utf-8',
    'application/openmetrics-text;q=0',
    'application/openmetrics-text;version=1.0.0;q=0,text/plain',
    'application/openmetrics-text ;version=1.0.0',
    'Application/OpenMetrics-Text;version=1.0.0',
    'application/openmetrics-text;version=1.0.0;escaping=values;q=0.5,text/plain;version=1.0.0',
    ',,application/openmetrics-text',
    'application/openmetrics-text;version=0.0.1,,text/plain;version=1.0.0',
    ',,',
    ',',
    ';',
    ';;version=1.0.0',
    '*/*',
    'application/json',
    'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8',
    'text/plain;version=0.0.4,\u0301,application/openmetrics-text',
    'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,'
    'text/plain;version=0.0.4;q=0.5,*/*;q=0.1',
    'application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,'
    'text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2',
    # Python raises TypeError for these (version parts that are not integers compared with ints).
    'application/openmetrics-text;version=1.0.0-rc',
    'application/openmetrics-text;version=1.a',
    'text/plain;version=a.b.c',
    'text/plain;version==1.0.0',
    'text/plain;version=1..0',
    'text/plain;version=1.0.0_',
    'text/plain;version=\u00b2.0.0',
]


def describe(accept):
    encoder, content_type = exposition.choose_encoder(accept)
    func = getattr(encoder, 'func', encoder)
    keywords = getattr(encoder, 'keywords', {})
    syntax = 'openmetrics' if func is om_exposition.generate_latest else 'text'
    escaping = keywords.get('escaping', om_exposition.UNDERSCORES)
    return content_type, syntax, escaping


def main(out):
    rows, deviations = [], []
    for accept in HEADERS:
        try:
            content_type, syntax, escaping = describe(accept)
        except Exception as e:  # noqa: BLE001 - recorded as a deviation
            deviations.append((accept, f'{type(e).__name__}: {e}'))
            continue
        rows.append('\t'.join([json.dumps(accept), content_type, syntax, escaping]))
    with open(out, 'w', encoding='utf-8') as f:
        f.write('# choose_encoder of prometheus_client 0.26.0, recorded by scripts/golden/negotiation.py.\n')
        f.write('# <accept as JSON>\\t<content type>\\t<syntax>\\t<escaping>\n')
        f.write('# Documented deviations: Python raises for these headers (HTTP 500); we pass the range over.\n')
        for accept, error in deviations:
            f.write(f'#   {json.dumps(accept)}: {error}\n')
        for row in rows:
            f.write(row + '\n')
    return len(rows)


if __name__ == '__main__':
    count = main(sys.argv[1])
    print(f'negotiation: {count} headers')
