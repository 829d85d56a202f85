#!/usr/bin/env python3
"""TLS and basic auth cost (`make bench-tls`): warm /metrics on a perf_m directory, over
keep-alive connections, plain HTTP against TLS, each with and without basic auth, in one run;
then new TLS handshakes per second.

usage: scripts/bench/tls.py --binary .build/release/multiproc-exporter [--seconds 5] [--rounds 3] [--work .bench]
       scripts/bench/tls.py --binary NEW --baseline OLD [--seconds 5] [--rounds 5]

With --baseline: only the warm "cached" scrapes with a web config (basic auth; TLS + basic
auth), 1 connection, each binary in turn, interleaved: what a change to the per-request work
of the web config costs (the `stat`s of its files per request, for one).

- Latency: wrk, 1 thread, 1 connection (one Prometheus), Prometheus' Accept header and gzip,
  as Prometheus scrapes. Throughput: the same with 8 connections. Each mode runs `--rounds`
  times, the modes interleaved; the median round is reported (the machine is shared).
- Two kinds of warm scrape: "fresh" (the default: every request refreshes the directory, which
  is most of the time), and "cached" (`--scrape.min-interval 1h`: the rendered gzip body is
  sent again), which leaves the transport alone and shows what TLS itself costs.
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
import shutil
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


def compare(a, copy, tls_dir, authorization):
    """--baseline: cached auth and tls+auth scrapes, both binaries, interleaved, median of rounds."""
    headers = [f"Accept: {PROMETHEUS_ACCEPT}", "Accept-Encoding: gzip", authorization]
    binaries = {"baseline": a.baseline, "this": a.binary}
    runs = {(who, mode): [] for who in binaries for mode in ("auth", "tls+auth")}
    for round_number in range(a.rounds):
        order = list(runs) if round_number % 2 == 0 else list(reversed(runs))
        for who, mode in order:
            exporter = Exporter(binaries[who], copy, "--web.config.file", f"{tls_dir}/{mode}.yml", "--scrape.min-interval", "1h")
            try:
                url = f"{'https' if 'tls' in mode else 'http'}://127.0.0.1:{exporter.port}/metrics"
                wrk(url, 1, 1, headers)
                log(f"[round {round_number + 1}: {who} {mode}]")
                runs[(who, mode)].append(wrk(url, a.seconds, 1, headers))
            finally:
                exporter.stop()
    lines = ["| warm cached scrape, 1 connection | binary | mean latency | p50 | p99 | req/s |", "|---|---|---|---|---|---|"]
    for mode in ("auth", "tls+auth"):
        for who in binaries:
            r = sorted(runs[(who, mode)], key=lambda x: x["avg_s"])[len(runs[(who, mode)]) // 2]
            lines.append(f"| {mode} | {who} | {r['avg_s'] * 1e6:.1f} µs | {r['p50_s'] * 1e6:.1f} µs | {r['p99_s'] * 1e6:.1f} µs "
                         f"| {r['rps']:.0f} |")
    json.dump({f"{who} {mode}": v for (who, mode), v in runs.items()}, open(os.path.join(a.work, "tls-compare.json"), "w"), indent=1)
    print("\n".join(lines))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default=os.path.join(ROOT, ".build/release/multiproc-exporter"))
    ap.add_argument("--baseline", help="another binary: compare the web config's per-request cost only")
    ap.add_argument("--work", default=os.path.join(ROOT, ".bench"))
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    directory, info = generate("m", a.work)
    copy = fresh_copy(directory, a.work, "serve_tls")
    tls_dir = tempfile.mkdtemp(dir=a.work)
    authorization = make_tls(tls_dir)
    if a.baseline:
        compare(a, copy, tls_dir, authorization)
        shutil.rmtree(tls_dir, ignore_errors=True)
        return
    scrape_headers = [f"Accept: {PROMETHEUS_ACCEPT}", "Accept-Encoding: gzip"]
    results = {"directory": info, "seconds": a.seconds, "rounds": a.rounds, "modes": {}}
    modes = [(kind, mode) for kind in ("fresh", "cached") for mode in ("plain", "auth", "tls", "tls+auth")]
    rounds = {key: [] for key in modes}
    for round_number in range(a.rounds):
        for kind, mode in modes if round_number % 2 == 0 else list(reversed(modes)):
            extra = [] if mode == "plain" else ["--web.config.file", f"{tls_dir}/{mode}.yml"]
            if kind == "cached":
                extra += ["--scrape.min-interval", "1h"]
            exporter = Exporter(a.binary, copy, *extra)
            try:
                url = f"{'https' if 'tls' in mode else 'http'}://127.0.0.1:{exporter.port}/metrics"
                headers = scrape_headers + ([authorization] if "auth" in mode else [])
                wrk(url, 1, 1, headers)  # warm-up: first refresh, cached credentials
                log(f"[round {round_number + 1}: {kind} {mode}] 1 connection, 8 connections")
                rounds[(kind, mode)].append({"latency": wrk(url, a.seconds, 1, headers),
                                             "throughput": wrk(url, a.seconds, 8, headers)})
            finally:
                exporter.stop()
    for (kind, mode), runs in rounds.items():
        runs.sort(key=lambda r: r["latency"]["avg_s"])
        results["modes"][f"{kind} {mode}"] = runs[len(runs) // 2]
    for mode in ("plain", "tls"):
        extra = [] if mode == "plain" else ["--web.config.file", f"{tls_dir}/tls.yml"]
        exporter = Exporter(a.binary, copy, *extra)
        try:
            url = f"{'https' if mode == 'tls' else 'http'}://127.0.0.1:{exporter.port}/healthz"
            log(f"[{mode}] new connection per request on /healthz")
            results[f"new_connections_{mode}"] = wrk(url, a.seconds, 8, ["Connection: close"])
            if mode == "tls":
                results["s_time_per_user_sec"], results["s_time_per_sec"] = s_time(exporter.port, a.seconds)
        finally:
            exporter.stop()
    shutil.rmtree(tls_dir, ignore_errors=True)
    json.dump(results, open(os.path.join(a.work, "tls.json"), "w"), indent=1)

    m = results["modes"]
    lines = ["| warm scrape | mode | mean latency | p50 | p99 | vs plain (mean) | req/s, 1 conn | req/s, 8 conns |",
             "|---|---|---|---|---|---|---|---|"]
    for kind in ("fresh", "cached"):
        base = m[f"{kind} plain"]["latency"]["avg_s"]
        for mode in ("plain", "auth", "tls", "tls+auth"):
            lat, thr = m[f"{kind} {mode}"]["latency"], m[f"{kind} {mode}"]["throughput"]
            lines.append(f"| {kind} | {mode} | {lat['avg_s'] * 1e3:.3f} ms | {lat['p50_s'] * 1e3:.3f} ms "
                         f"| {lat['p99_s'] * 1e3:.3f} ms | {lat['avg_s'] / base:.2f}x | {lat['rps']:.0f} | {thr['rps']:.0f} |")
    lines += ["", f"New connection per request (`Connection: close`, /healthz, 8 connections): plain "
              f"{results['new_connections_plain']['rps']:.0f}/s; TLS {results['new_connections_tls']['rps']:.0f}/s, each a full "
              f"handshake. `openssl s_time -new -www /healthz` (one sequential client): {results['s_time_per_sec']:.0f} handshakes/s."]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
