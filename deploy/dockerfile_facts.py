#!/usr/bin/env python3
"""Facts about deploy/Dockerfile for deploy/check-dockerfile.sh (no Docker engine needed).

  dockerfile_facts.py copies DOCKERFILE          build-stage COPY sources, one per line
  dockerfile_facts.py healthcheck DOCKERFILE       the HEALTHCHECK CMD, as a JSON array

(The image itself is built and run by make test-kube: deploy/check-kube.py.)
"""
import json
import shlex
import sys


def instructions(path):
    """(instruction, arguments) pairs: comments dropped, backslash continuations joined."""
    out, current = [], ''
    for line in open(path, encoding='utf-8'):
        stripped = line.strip()
        if stripped.startswith('#') and not current:
            continue
        if stripped.startswith('#'):  # a comment inside a continued instruction
            continue
        current += ' ' + stripped.rstrip('\\').strip() if current else stripped.rstrip('\\').strip()
        if not stripped.endswith('\\'):
            if current:
                word, _, rest = current.partition(' ')
                out.append((word.upper(), rest.strip()))
            current = ''
    return out


def stages(path):
    """Instructions grouped by FROM."""
    result = []
    for word, rest in instructions(path):
        if word == 'FROM':
            result.append([])
        if result:
            result[-1].append((word, rest))
    return result


def copies(path):
    build = stages(path)[0]
    for word, rest in build:
        if word == 'COPY' and '--from' not in rest:
            print('\n'.join(shlex.split(rest)[:-1]))


def healthcheck(path):
    for word, rest in stages(path)[-1]:
        if word == 'HEALTHCHECK':
            print(json.dumps(json.loads(rest[rest.index('CMD') + 3:].strip())))
            return
    sys.exit('no HEALTHCHECK in the last stage')


if __name__ == '__main__':
    command, args = sys.argv[1], sys.argv[2:]
    {'copies': copies, 'healthcheck': healthcheck}[command](*args)
