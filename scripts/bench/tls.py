#!/usr/bin/env python3
"""TLS and basic auth cost (`make bench-tls`): warm /metrics on a perf_m directory, over
keep-alive connections, plain HTTP against TLS, each with and without basic auth, in one run;
then new TLS handshakes per second.

usage: scripts/bench/tls.py --binary .build/release/multiproc-exporter [--seconds 10] [--work .bench]

- Latency: wrk, 1 thread, 1 connection (one Prometheus), Prometheus' Accept header and gzip,
  as Prometheus scrapes. Throughput: the same with 8 connections.
- Handshakes: wrk with `Connection: close` on /healthz (every request a new TCP connection and,
  for TLS, a full handshake: wrk does not resume sessions), 8 connections; and
  `openssl s_time -new -www /healthz` (one client, sequential full handshakes, TLS 1.3).
- Certificate: RSA 2048 (cert-manager's default), made by openssl; password hash: htpasswd,
  bcrypt cost 10 (exporter-toolkit's documented example). Checked credentials are cached, so
  warm requests with basic auth cost a SHA-256 and a lookup, not a bcrypt.

Needs wrk, openssl, htpasswd. Writes .bench/tls.json and prints a Markdown table for BENCHMARKS.md.
"""
import argparse
import base64
import json
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run import PROMETHEUS_ACCEPT, ROOT, Exporter, fresh_copy, generate, log  # noqa: E402

UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0}


def seconds(text):
    number, unit = re.fullmatch(r"([0-9.]+)(us|ms|s)", text).groups()
    return float(number) * UNITS[unit]


def wrk(url, duration, connections, headers):
    args = ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency"]
    for header in headers:
        args += ["-H", header]
    out = subprocess.run(args + [url], check=True, capture_output=True, text=True).stdout
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    if non2xx or (errors and connections == 1):
        raise SystemExit(f"wrk saw failures on {url}:\n{out}")
    return {
        "rps": float(re.search(r"Requests/sec:\s+([0-9.]+)", out).group(1)),
        "avg_s": seconds(re.search(r"Latency\s+([0-9.]+\w+)", out).group(1)),
        "p50_s": seconds(re.search(r"\s50%\s+([0-9.]+\w+)", out).group(1)),
        "p99_s": seconds(re.search(r"\s99%\s+([0-9.]+\w+)", out).group(1)),
    }


def make_tls(directory):
    def run(*args):
        subprocess.run(args, check=True, capture_output=True)
    run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{directory}/tls.key",
        "-out", f"{directory}/tls.crt", "-days", "2", "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1")
    password = "bench-password"
    hashed = subprocess.run(["htpasswd", "-nbBC", "10", "", password], check=True, capture_output=True,
                            text=True).stdout.strip().strip(":")
    configs = {
        "tls": "tls_server_config: {cert_file: tls.crt, key_file: tls.key}\n",
        "auth": f"basic_auth_users:\n  bench: {hashed}\n",
    }
    configs["tls+auth"] = configs["tls"] + configs["auth"]
    for name, text in configs.items():
        open(f"{directory}/{name}.yml", "w").write(text)
    return "Authorization: Basic " + base64.b64encode(f"bench:{password}".encode()).decode()


def s_time(port, duration):
    # -www: one GET /healthz per connection (without it, s_time reports TLS 1.3 connections as errors).
    out = subprocess.run(["openssl", "s_time", "-connect", f"127.0.0.1:{port}", "-new", "-www", "/healthz",
                          "-time", str(duration)],
                         check=True, capture_output=True, text=True).stdout
    return float(re.search(r"([0-9.]+) connections/user sec", out).group(1)), \
        int(re.search(r"(\d+) connections in [0-9.]+s", out).group(1)) / duration


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default=os.path.join(ROOT, ".build/release/multiproc-exporter"))
    ap.add_argument("--work", default=os.path.join(ROOT, ".bench"))
    ap.add_argument("--seconds", type=int, default=10)
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    directory, info = generate("m", a.work)
    copy = fresh_copy(directory, a.work, "serve_tls")
    tls_dir = tempfile.mkdtemp(dir=a.work)
    authorization = make_tls(tls_dir)
    scrape_headers = [f"Accept: {PROMETHEUS_ACCEPT}", "Accept-Encoding: gzip"]
    results = {"directory": info, "seconds": a.seconds, "modes": {}}
    for mode in ["plain", "auth", "tls", "tls+auth"]:
        extra = [] if mode == "plain" else ["--web.config.file", f"{tls_dir}/{mode}.yml"]
        exporter = Exporter(a.binary, copy, *extra)
        try:
            url = f"{'https' if 'tls' in mode else 'http'}://127.0.0.1:{exporter.port}"
            headers = scrape_headers + ([authorization] if "auth" in mode else [])
            wrk(url + "/metrics", 2, 1, headers)  # warm-up: first refresh, cached credentials
            log(f"[{mode}] latency (1 connection), throughput (8 connections)")
            r = {"latency": wrk(url + "/metrics", a.seconds, 1, headers),
                 "throughput": wrk(url + "/metrics", a.seconds, 8, headers)}
            if mode in ("plain", "tls"):
                log(f"[{mode}] new connection per request on /healthz")
                r["new_connections"] = wrk(url + "/healthz", a.seconds, 8, ["Connection: close"])
            if mode == "tls":
                r["s_time_per_user_sec"], r["s_time_per_sec"] = s_time(exporter.port, a.seconds)
            results["modes"][mode] = r
        finally:
            exporter.stop()
    json.dump(results, open(os.path.join(a.work, "tls.json"), "w"), indent=1)

    m = results["modes"]
    base = m["plain"]["latency"]["avg_s"]
    lines = ["| mode | mean latency | p50 | p99 | vs plain (mean) | req/s, 1 conn | req/s, 8 conns |",
             "|---|---|---|---|---|---|---|"]
    for mode in ["plain", "auth", "tls", "tls+auth"]:
        lat, thr = m[mode]["latency"], m[mode]["throughput"]
        lines.append(f"| {mode} | {lat['avg_s'] * 1e3:.3f} ms | {lat['p50_s'] * 1e3:.3f} ms | {lat['p99_s'] * 1e3:.3f} ms "
                     f"| {lat['avg_s'] / base:.2f}x | {lat['rps']:.0f} | {thr['rps']:.0f} |")
    lines += ["", f"New connection per request (`Connection: close`, /healthz, 8 connections): plain "
              f"{m['plain']['new_connections']['rps']:.0f}/s, TLS {m['tls']['new_connections']['rps']:.0f}/s full handshakes; "
              f"`openssl s_time -new -www /healthz`: {m['tls']['s_time_per_sec']:.0f} handshakes/s (one sequential client)."]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
