#!/usr/bin/env python3
"""Virtualenvs with old prometheus_client releases, cached under .venvs/ (git-ignored).

    scripts/clients/venvs.py [--root .venvs] [VERSION ...]     # prints one `VERSION PYTHON` line each

Each version gets `.venvs/prometheus-client-<version>/`, made with `python3 -m venv
--without-pip` and filled by this interpreter's pip through `pip --python` (pip >= 22.3);
where that fails, with a venv of its own pip (`ensurepip`: Debian's python3-venv, which
.ci/run and `make deps` install). A venv counts as ready when its stamp
file names the same version and the same base interpreter; a ready venv is not touched, so
a repeated run costs one stat per version. Missing ones are installed in parallel (the
downloads dominate). A failed install leaves no stamp and is retried on the next run.
"""
import argparse
import concurrent.futures
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
# The releases `make test-clients` checks: the first and last of each file layout (0.1.0 and
# 0.3.1 before 0.4, with label lists in their keys), plus the versions Ubuntu 22.04 (0.9.0) and
# Debian 12 (0.16.0) package, 0.12.0 (between them), and the reference 0.26.0.
VERSIONS = ['0.1.0', '0.3.1', '0.4.2', '0.9.0', '0.12.0', '0.16.0', '0.17.1', '0.26.0']


def venv_dir(root, version):
    return os.path.join(root, f'prometheus-client-{version}')


def python_of(root, version):
    return os.path.join(venv_dir(root, version), 'bin', 'python')


def stamp_text(version):
    # A venv points at its base interpreter: a different python3 needs a new venv.
    return f'prometheus-client=={version} base={os.path.realpath(sys.executable)}\n'


def is_ready(root, version):
    stamp = os.path.join(venv_dir(root, version), 'stamp')
    try:
        with open(stamp) as f:
            return f.read() == stamp_text(version) and os.access(python_of(root, version), os.X_OK)
    except OSError:
        return False


def create(root, version):
    """Builds the venv from scratch; returns (version, seconds)."""
    started = time.monotonic()
    target = venv_dir(root, version)
    shutil.rmtree(target, ignore_errors=True)
    subprocess.run([sys.executable, '-m', 'venv', '--without-pip', target], check=True)
    options = ['install', '-q', '--disable-pip-version-check', '--no-warn-script-location', f'prometheus-client=={version}']
    result = subprocess.run([sys.executable, '-m', 'pip', '--python', python_of(root, version), *options],
                            capture_output=True, text=True)
    if result.returncode != 0:
        # A pip without --python (< 22.3), or one that cannot run inside a venv (a distro's
        # debundled pip): give the venv a pip of its own (ensurepip; Debian: python3-venv).
        shutil.rmtree(target, ignore_errors=True)
        subprocess.run([sys.executable, '-m', 'venv', target], check=True, capture_output=True)
        result = subprocess.run([python_of(root, version), '-m', 'pip', *options], capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f'pip install prometheus-client=={version} failed:\n{result.stdout}{result.stderr}')
    check = subprocess.run([python_of(root, version), '-c',
                            'import importlib.metadata as m; print(m.version("prometheus-client"))'],
                           capture_output=True, text=True)
    if check.stdout.strip() != version:
        raise RuntimeError(f'venv for {version} reports {check.stdout.strip()!r} {check.stderr}')
    with open(os.path.join(target, 'stamp'), 'w') as f:
        f.write(stamp_text(version))
    return version, time.monotonic() - started


def ensure(root, versions):
    """Makes every venv of `versions` ready; returns {version: python path}."""
    missing = [v for v in versions if not is_ready(root, v)]
    if missing:
        os.makedirs(root, exist_ok=True)
        started = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(max_workers=len(missing)) as pool:
            for version, seconds in pool.map(lambda v: create(root, v), missing):
                print(f'venvs: prometheus-client {version} ready in {seconds:.1f}s', file=sys.stderr)
        print(f'venvs: {len(missing)} created in {time.monotonic() - started:.1f}s under {root}', file=sys.stderr)
    return {v: python_of(root, v) for v in versions}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--root', default=os.path.join(ROOT, '.venvs'))
    parser.add_argument('versions', nargs='*', default=VERSIONS)
    args = parser.parse_args(argv)
    for version, python in ensure(os.path.abspath(args.root), args.versions).items():
        print(version, python)


if __name__ == '__main__':
    main()
