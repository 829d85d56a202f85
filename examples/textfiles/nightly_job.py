#!/usr/bin/env python3
"""Recipe 3: a cron job that reports its last run.

    # /etc/cron.d/nightly-report
    30 2 * * *  myapp  TEXTFILE_DIR=/run/myapp-textfiles /opt/myapp/nightly_job.py

The job writes its outcome when it ends; the exporter serves the file until the next run
replaces it. Alert on age, not on presence:

    time() - nightly_report_last_success_unixtime > 26 * 3600

(`multiproc_exporter_textfile_mtime_seconds{file=".../nightly-report.prom"}` tells when the
file was last written, success or not.) A batch job that uses a process pool and ends before
any scrape pushes instead: `multiproc-exporter push` (README, Push).
"""
import os
import time

# Plain in-memory metrics: this job is no multiprocess app. With PROMETHEUS_MULTIPROC_DIR set
# (inherited from the app's environment), Gauge() would write .db files instead; the variable
# is read when prometheus_client is imported, so it goes first.
os.environ.pop('PROMETHEUS_MULTIPROC_DIR', None)

from prometheus_client import CollectorRegistry, Gauge, write_to_textfile  # noqa: E402


def build_report():
    """The job's real work; returns the number of rows it wrote."""
    time.sleep(0.01)
    return 1234


def main():
    directory = os.environ.get('TEXTFILE_DIR', '/run/myapp-textfiles')
    registry = CollectorRegistry()
    duration = Gauge('nightly_report_duration_seconds', 'Duration of the last run.', registry=registry)
    rows = Gauge('nightly_report_rows', 'Rows written by the last run.', registry=registry)
    last_success = Gauge('nightly_report_last_success_unixtime', 'When the last successful run ended.', registry=registry)
    started = time.time()
    rows.set(build_report())
    duration.set(time.time() - started)
    last_success.set_to_current_time()
    # Only a run that succeeded writes: after a failure (an exception above) the previous
    # file, with the previous success time, stays, and the age alert fires when it should.
    write_to_textfile(os.path.join(directory, 'nightly-report.prom'), registry)

if __name__ == '__main__':
    main()
