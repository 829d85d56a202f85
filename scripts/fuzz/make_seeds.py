#!/usr/bin/env python3
"""Seed corpora for the libFuzzer targets (make fuzz), from files the real prometheus_client
writes in multiprocess mode: 0.26.0 (this python's), and 0.9.0 and 0.16.0 (the venvs of
scripts/clients/venvs.py, created if missing) for the older file layouts.

    make_seeds.py OUT_DIR            # writes OUT_DIR/<target>/<seed> for every target

Seed layout per target (see Sources/*/Fuzzing.swift):
- file-reader: byte 0 = file name index, byte 1 = earlier-state mode, then the file content
  cut to `used` plus a few zero bytes (the 64 KiB zero tail adds nothing but time);
- key-decoder: the raw JSON key of one entry (and a few keys of releases before 0.4);
- layout-equivalence: byte 0 = file name index, byte 1 = layout pair, then entries
  (CollectorFuzzing.layoutEquivalence);
- accept-negotiation: one Accept header (from the golden negotiation table);
- textfile: a textfile as prometheus_client's write_to_textfile writes it (Info, Enum, every
  metric type, custom collectors, UTF-8 names; each escaping it offers);
- http-request: a request target or header value;
- web-config: a --web.config.file (the YAML examples of examples/web-config and the tests' shapes);
- basic-auth: an Authorization header value or a bcrypt hash.
"""
import json
import os
import struct
import subprocess
import sys
import tempfile

FILE_NAMES = ["counter_7.db", "histogram_7.db", "summary_7.db", "gauge_all_7.db", "gauge_livesum_7.db",
              "gauge_max_7.db", "gauge_min_7.db", "gauge_mostrecent_7.db", "gauge_livemostrecent_7.db", "gauge_sum_7.db"]

WRITER = r'''
import os, sys
os.environ["prometheus_multiproc_dir"] = os.environ["PROMETHEUS_MULTIPROC_DIR"]
from prometheus_client import Counter, Gauge, Histogram, Summary
try:
    MODES = Gauge._MULTIPROC_MODES
except AttributeError:
    MODES = {"all", "livesum", "max", "min"}
c = Counter("c", "Help.", ["a"])
c.labels("b").inc(3)
c.labels('quote " back \\ nl \n').inc()
Counter("requests", "Requests.", ["route", "code"]).labels("/", "200").inc(5)
try:
    Counter("héllo_wörld", "UTF-8 name.", ["ключ"]).labels("значение").inc()
except ValueError:
    pass  # releases before UTF-8 names
Counter("no_labels", "").inc(1e300)
h = Histogram("latency_seconds", "Latency.", ["m"], buckets=[0.005, 0.1, 1, 12345678.5, float("inf")])
h.labels("get").observe(0.05)
h.labels("get").observe(3)
Summary("size_bytes", "Sizes.").observe(1024)
for mode in [m for m in ["all", "livesum", "max", "min", "mostrecent", "livemostrecent", "sum"] if m in MODES]:
    g = Gauge("g_" + mode, "Gauge " + mode + ".", ["x"], multiprocess_mode=mode)
    g.labels("1").set(float("nan") if mode == "max" else 2.5)
    g.labels("2").set(float("-inf") if mode == "min" else -1)
'''


# (python, value bytes per entry, seed name tag): today's release and two older layouts.
def writers():
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "clients"))
    import venvs
    pythons = venvs.ensure(os.path.join(venvs.ROOT, ".venvs"), ["0.9.0", "0.16.0"])
    return [(sys.executable, 16, ""), (pythons["0.9.0"], 8, "k3v8-"), (pythons["0.16.0"], 8, "k4v8-")]


LIST_KEYS = ['["c", "c_total", ["a", "b"], ["x", "y"]]', '["g", "g", [], []]',
             '["h", "h_bucket", ["le"], ["0.5"]]', '["m", "m", ["a"], ["\\u00e9\\n\\""]]']


def equivalence_seeds(path):
    """Inputs for CollectorFuzzing.layoutEquivalence: each pair over a few entries."""
    os.makedirs(path, exist_ok=True)
    entries = (bytes([0x04 | (1 << 6), 3]) + b"a\"b" + struct.pack("<d", 2.5)
               + bytes([0x08 | (3 << 6), 1, ord("x"), 0, 3]) + b"0.5" + struct.pack("<d", 1.0)
               + bytes([0x01 | 0x10]) + struct.pack("<d", float("nan")))
    for pair in range(5):
        for name in (0, 3, 7):
            open(os.path.join(path, f"pair{pair}-file{name}"), "wb").write(bytes([name, pair]) + entries)


TEXTFILE_WRITER = r'''
import sys
from prometheus_client import CollectorRegistry, Counter, Enum, Gauge, Histogram, Info, Summary, write_to_textfile
from prometheus_client.core import (CounterMetricFamily, GaugeHistogramMetricFamily, GaugeMetricFamily,
                                    SummaryMetricFamily, UnknownMetricFamily)
r = CollectorRegistry()
Info("build", "Build.", registry=r).info({"version": "1.2.3", "commit": 'q " b \\ n \n'})
Enum("state", "State.", states=["a", "b"], registry=r).state("b")
Counter("jobs", "Jobs.", ["kind"], registry=r).labels("x").inc(2)
Gauge("héllo.wörld", "UTF-8 name.", ["ключ.x"], registry=r).labels("значение").set(float("nan"))
h = Histogram("latency_seconds", "Latency.", buckets=[0.1, 1e10, float("inf")], registry=r)
h.observe(3)
Summary("size_bytes", "", registry=r).observe(-1)
class Custom:
    def collect(self):
        g = GaugeMetricFamily("queue_depth", "Depth.", labels=["queue"])
        g.add_metric(["high"], 1e300)
        yield g
        yield GaugeHistogramMetricFamily("gh", "GH.", buckets=[("1.0", 4), ("+Inf", 5)], gsum_value=3)
        yield SummaryMetricFamily("sm", "SM.", count_value=4, sum_value=2.5)
        yield UnknownMetricFamily("unk", "Unknown.", value=-7)
        yield CounterMetricFamily("cmf", "CMF.", value=2, created=1700000000.25)
r.register(Custom())
write_to_textfile(sys.argv[1], r, escaping=sys.argv[2])
'''


def textfile_seeds(path):
    os.makedirs(path, exist_ok=True)
    for escaping in ["allow-utf-8", "underscores", "dots", "values"]:
        subprocess.run([sys.executable, "-c", TEXTFILE_WRITER, os.path.join(path, f"write-{escaping}.prom"), escaping], check=True)


def main(out):
    targets = {t: os.path.join(out, t) for t in ["file-reader", "key-decoder", "accept-negotiation", "http-request",
                                                 "web-config", "basic-auth"]}
    textfile_seeds(os.path.join(out, "textfile"))
    for path in targets.values():
        os.makedirs(path, exist_ok=True)
    n = 0
    for python, width, tag in writers():
        with tempfile.TemporaryDirectory() as d:
            env = dict(os.environ, PROMETHEUS_MULTIPROC_DIR=d)
            subprocess.run([python, "-c", WRITER], env=env, check=True)
            for name in sorted(os.listdir(d)):
                data = open(os.path.join(d, name), "rb").read()
                used = struct.unpack_from("<i", data, 0)[0]
                content = data[:used + 16]
                kind = name.rsplit("_", 1)[0] + "_7.db"
                index = FILE_NAMES.index(kind) if kind in FILE_NAMES else 0
                for mode in (0x00, 0x06, 0x21):
                    open(os.path.join(targets["file-reader"], f"{tag}{kind[:-5]}-{mode:02x}"), "wb").write(bytes([index, mode]) + content)
                pos = 8
                while pos + 4 <= used:
                    (klen,) = struct.unpack_from("<i", data, pos)
                    key = data[pos + 4:pos + 4 + klen]
                    open(os.path.join(targets["key-decoder"], f"key-{n}"), "wb").write(key)
                    n += 1
                    pos += 4 + klen + (8 - (4 + klen) % 8) + width
    for key in LIST_KEYS:
        open(os.path.join(targets["key-decoder"], f"key-{n}"), "wb").write(key.encode())
        n += 1
    equivalence_seeds(os.path.join(out, "layout-equivalence"))
    table = os.path.join(os.path.dirname(__file__), "../../Tests/MultiprocCollectorTests/Fixtures/negotiation.tsv")
    for i, line in enumerate(open(table, encoding="utf-8")):
        if line.startswith("#"):
            continue
        accept = json.loads(line.split("\t")[0])
        if accept is not None:
            open(os.path.join(targets["accept-negotiation"], f"accept-{i}"), "wb").write(accept.encode())
    for i, text in enumerate(["/mark-dead/123", "/mark-dead/4194304", "/mark-dead/0", "/mark-dead/%31",
                              "/metrics?x=1#f", "http://h:1/mark-dead/5", "Bearer abc", "gzip;q=0.5, *;q=0",
                              "/mark-dead/../x", "//a/b"]):
        open(os.path.join(targets["http-request"], f"request-{i}"), "wb").write(text.encode())
    example = os.path.join(os.path.dirname(__file__), "../../examples/web-config/web-config.yml")
    configs = [open(example, encoding="utf-8").read(), "", "tls_server_config: {cert_file: a, key_file: b}\n",
               "http_server_config:\n  http2: false\n  headers: {X-Frame-Options: deny}\n",
               "rate_limit: {interval: 1s, burst: 3}\nbasic_auth_users:\n  u: $2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi\n",
               "tls_server_config:\n  cert: |\n    x\n  key: k\n  client_auth_type: RequireAndVerifyClientCert\n"
               "  client_allowed_sans: [a, 1.2.3.4]\n  cipher_suites: [TLS_AES_128_GCM_SHA256]\n  curve_preferences: [X25519]\n"]
    for i, text in enumerate(configs):
        open(os.path.join(targets["web-config"], f"config-{i}"), "wb").write(text.encode())
    for i, text in enumerate(["Basic YWxpY2U6cHc=", "basic OnB3", "Basic YWxp\r\nY2U6cHc=", "Basic YWxpY2U6cHd=", "Bearer x",
                              "$2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi"]):
        open(os.path.join(targets["basic-auth"], f"header-{i}"), "wb").write(text.encode())


if __name__ == "__main__":
    main(sys.argv[1])
