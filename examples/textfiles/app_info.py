#!/usr/bin/env python3
"""Recipe 1: Info and Enum metrics, set once when the app starts.

prometheus_client's multiprocess mode cannot carry Info and Enum metrics (their values live in
one process's memory, and MultiProcessCollector reads only the .db files). Write them once, at
start, into the textfile directory that `multiproc-exporter serve --textfile.directory` reads:

    # gunicorn.conf.py
    from app_info import write_app_info

    def when_ready(server):                  # in gunicorn's master, once, before workers fork
        write_app_info(os.environ['TEXTFILE_DIR'])

Run alone (`TEXTFILE_DIR=/run/myapp-textfiles python3 app_info.py`) it writes the file once.
"""
import os

from prometheus_client import CollectorRegistry, Enum, Info, write_to_textfile


def write_app_info(directory):
    # A registry of its own: never the default REGISTRY, which would add this process's
    # process_* and python_* metrics (the exporter serves its own process_* and leaves such
    # textfile families out).
    registry = CollectorRegistry()
    Info('myapp_build', 'Version and commit of the running app.', registry=registry).info({
        'version': os.environ.get('MYAPP_VERSION', '1.4.2'),
        'commit': os.environ.get('MYAPP_COMMIT', 'unknown'),
    })
    mode = Enum('myapp_config_mode', 'Configuration the app started with.',
                states=['production', 'staging', 'maintenance'], registry=registry)
    mode.state(os.environ.get('MYAPP_MODE', 'production'))
    # Atomic: a temporary file in the same directory, then rename(2). The name must end in .prom.
    write_to_textfile(os.path.join(directory, 'myapp-info.prom'), registry)


if __name__ == '__main__':
    write_app_info(os.environ.get('TEXTFILE_DIR', '/run/myapp-textfiles'))
