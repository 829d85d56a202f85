#!/usr/bin/env python3
"""Facts about deploy/Dockerfile for deploy/check-dockerfile.sh (no Docker engine needed).

  dockerfile_facts.py copies DOCKERFILE          build-stage COPY sources, one per line
  dockerfile_facts.py runtime-packages DOCKERFILE  packages the last stage apt-get installs
  dockerfile_facts.py healthcheck DOCKERFILE       the HEALTHCHECK CMD, as a JSON array
  dockerfile_facts.py runtime DOCKERFILE           the last stage as bash assignments: RUN commands,
                                                   ENV, USER, ENTRYPOINT, the binary's path
  dockerfile_facts.py runtime DOCKERFILE           the last stage as shell assignments: RUN (one
                                                   command per line), ENV, USER, ENTRYPOINT, BINARY
  dockerfile_facts.py slim-packages                the packages of debian:bookworm-slim, modelled
                                                   from this host's apt lists (see below)
"""
import json
import re
import shlex
import subprocess
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


def runtime_packages(path):
    for word, rest in stages(path)[-1]:
        if word == 'RUN':
            for match in re.finditer(r'apt-get install ((?:-\S+\s+)*)([^&]+)', rest):
                print('\n'.join(match.group(2).split()))


def healthcheck(path):
    for word, rest in stages(path)[-1]:
        if word == 'HEALTHCHECK':
            print(json.dumps(json.loads(rest[rest.index('CMD') + 3:].strip())))
            return
    sys.exit('no HEALTHCHECK in the last stage')


def runtime(path):
    """The last stage, for check-dockerfile.sh's ROOTFS=1 run, as bash variable assignments."""
    values = {'IMAGE_RUNS': [], 'IMAGE_ENV': [], 'IMAGE_USER': '', 'IMAGE_ENTRYPOINT': [], 'IMAGE_BINARY': ''}
    for word, rest in stages(path)[-1]:
        if word == 'RUN':
            values['IMAGE_RUNS'].append(rest)
        elif word == 'ENV':
            values['IMAGE_ENV'] += shlex.split(rest)
        elif word == 'USER':
            values['IMAGE_USER'] = rest
        elif word == 'ENTRYPOINT':
            values['IMAGE_ENTRYPOINT'] = json.loads(rest)
        elif word == 'COPY' and '--from=' in rest:
            values['IMAGE_BINARY'] = shlex.split(rest)[-1]
    for name, value in values.items():
        if isinstance(value, list):
            print(f'{name}=({" ".join(shlex.quote(v) for v in value)})')
        else:
            print(f'{name}={shlex.quote(value)}')


def slim_packages():
    """debian:bookworm-slim is a debootstrap --variant=minbase of bookworm: the Essential and
    Priority: required packages, apt, and everything they depend on. Computed from the apt
    lists of this host (a Debian 12 machine) with the first alternative of each dependency,
    which makes it a slight superset (usrmerge and perl where minbase has usr-is-merged;
    compared with a real minbase on 2026-11-26: nothing else differs)."""
    records = subprocess.run(['apt-cache', 'dumpavail'], capture_output=True, text=True, check=True).stdout
    deps, seeds = {}, {'apt'}
    for record in records.split('\n\n'):
        fields = dict(re.findall(r'^([\w-]+): (.*)$', record, re.M))
        name = fields.get('Package')
        if not name:
            continue
        if fields.get('Essential') == 'yes' or fields.get('Priority') == 'required':
            seeds.add(name)
        wanted = set()
        for key in ('Pre-Depends', 'Depends'):
            for group in filter(None, (g.strip() for g in fields.get(key, '').split(','))):
                first = group.split('|')[0].strip()
                wanted.add(re.split(r'[\s:(]', first)[0])
        deps.setdefault(name, set()).update(wanted)
    closure, todo = set(), list(seeds)
    while todo:
        name = todo.pop()
        if name not in closure:
            closure.add(name)
            todo.extend(deps.get(name, ()))
    print('\n'.join(sorted(closure)))


if __name__ == '__main__':
    command, args = sys.argv[1], sys.argv[2:]
    {'copies': copies, 'runtime-packages': runtime_packages, 'healthcheck': healthcheck,
     'runtime': runtime, 'slim-packages': slim_packages}[command](*args)
