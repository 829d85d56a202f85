"""Text-format bodies as multisets of lines, for comparing our output with old clients'.

Normalisation, all of it (anything not listed is compared byte for byte):

1. A sample line's VALUE (and timestamp, if any) is parsed with `float()` and compared as
   its 64-bit pattern, never as text: releases before 0.5 render values with `repr`
   (`12345678.5`) where later ones switch to Go's exponent form (`1.23456785e+07`). The
   bit pattern keeps everything that matters: -0.0 differs from 0.0, every NaN rendered
   "NaN" parses to the same NaN.
2. The `le` label's value is parsed the same way, for the same reason (a bucket bound is
   rendered by the same function as a value).
3. Order is ignored: a body is a multiset of lines (families and samples come in directory
   order in Python and sorted in ours).

HELP and TYPE lines, metric and label names, every other label value, escaping: verbatim.
"""
import collections
import struct


def value_bits(text):
    """The bit pattern of the float `text` spells, as 16 hex digits (raises on a non-float)."""
    return struct.pack('>d', float(text)).hex()


def split_labels(text):
    """`a="x",le="1.0"` -> [('a', '"x"'), ('le', '"1.0"')], values still quoted and escaped."""
    out, i = [], 0
    while i < len(text):
        eq = text.index('=', i)
        name = text[i:eq]
        assert text[eq + 1] == '"', f'label value not quoted in {text!r}'
        j = eq + 2
        while text[j] != '"':
            j += 2 if text[j] == '\\' else 1
        out.append((name, text[eq + 1:j + 1]))
        i = j + 1
        if i < len(text):
            assert text[i] == ',', f'expected , at {i} in {text!r}'
            i += 1
    return out


def normalize_sample(line):
    """A sample line with its value (and `le`) replaced by bit patterns."""
    if '{' in line:
        name, rest = line.split('{', 1)
        # The label block ends at the last `}` before the value: values may contain `}`.
        close = rest.rindex('}')
        labels, tail = rest[:close], rest[close + 1:]
        parts = []
        for label, quoted in split_labels(labels):
            parts.append(f'{label}=<{value_bits(quoted[1:-1])}>' if label == 'le' else f'{label}={quoted}')
        head = name + '{' + ','.join(parts) + '}'
    else:
        head, tail = line.split(' ', 1)
        tail = ' ' + tail
    fields = tail.split(' ')
    assert fields[0] == '' and len(fields) in (2, 3), f'malformed sample line {line!r}'
    return head + ' ' + ' '.join(value_bits(f) for f in fields[1:])


def normalize(body):
    """The multiset of normalised lines of a text-format (0.0.4) body."""
    text = body.decode('utf-8')
    assert text == '' or text.endswith('\n'), 'body does not end with a newline'
    lines = text.split('\n')[:-1] if text else []
    return collections.Counter(l if l.startswith('#') else normalize_sample(l) for l in lines)


def difference(expected, actual):
    """'' when the bodies are equal as line multisets, else a readable list of differences."""
    want, got = normalize(expected), normalize(actual)
    if want == got:
        return ''
    missing = sorted((want - got).elements())
    extra = sorted((got - want).elements())
    out = [f'{len(missing)} lines only in Python\'s body, {len(extra)} only in ours']
    out += ['- ' + l for l in missing[:40]] + ['+ ' + l for l in extra[:40]]
    return '\n'.join(out)
