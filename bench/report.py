#!/usr/bin/env python3
"""Turns bench/run.sh's raw results into the markdown of BENCHMARKS.md.

    report.py h2load FILE          h2load's text output -> one JSON object
    report.py table RAW.jsonl [--command CMD] [--quick 0|1] [--write BENCHMARKS.md]

Every number in the tables is the median over the rounds of the run. Scenario 7
(native protocol vs gRPC) has its own block, so `bench/run.sh --only native`
rewrites just that one.
"""
import argparse
import datetime
import json
import os
import re
import statistics
import subprocess
import sys

BEGIN = "<!-- bench:results:begin -->"
END = "<!-- bench:results:end -->"
NATIVE_BEGIN = "<!-- bench:native:begin -->"
NATIVE_END = "<!-- bench:native:end -->"


def parse_h2load(path):
    text = open(path).read()
    out = {"client": "h2load", "errors": {}}
    m = re.search(r"finished in [\d.]+\w+, ([\d.]+) req/s, ([\d.]+)(\w+)/s", text)
    if m:
        out["calls_per_s"] = float(m.group(1))
        unit = {"B": 1, "KB": 1e3, "MB": 1e6, "GB": 1e9}.get(m.group(3), 1)
        out["bytes_per_s"] = float(m.group(2)) * unit
    m = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored", text)
    if m:
        out["calls"] = int(m.group(4))
        failed = int(m.group(5)) + int(m.group(6))
        if failed:
            out["errors"]["FAILED"] = failed
    m = re.search(r"time for request:\s+(\S+)\s+(\S+)\s+(\S+)", text)
    if m:
        out["latency_us"] = {"min": us(m.group(1)), "max": us(m.group(2)), "mean": us(m.group(3))}
    return out


def us(value):
    m = re.match(r"([\d.]+)(us|ms|s)", value)
    if not m:
        return None
    return float(m.group(1)) * {"us": 1, "ms": 1e3, "s": 1e6}[m.group(2)]


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=30).stdout.strip()
    except Exception:  # noqa: BLE001 - machine details are best effort
        return "?"


class Results:
    def __init__(self, rows):
        self.rows = rows

    def pick(self, scenario, peer, client=None):
        return [r for r in self.rows if r["scenario"] == scenario and r["peer"] == peer
                and (client is None or r.get("client") == client)]

    def metric(self, scenario, peer, client, fn):
        return median([safe(fn, r) for r in self.pick(scenario, peer, client)])

    def rate(self, scenario, peer, client):
        return self.metric(scenario, peer, client, lambda r: r["calls_per_s"])

    def mbps(self, scenario, peer, client):
        return self.metric(scenario, peer, client, lambda r: r["bytes_per_s"] / 1e6)

    def lat(self, scenario, peer, client, q):
        return self.metric(scenario, peer, client, lambda r: r["latency_us"][q])

    def server_cpu(self, scenario, peer, client):
        return self.metric(scenario, peer, client,
                           lambda r: r["server_cpu_s"] * 1e6 / (r["calls_per_s"] * r["elapsed_s"])
                           if r.get("elapsed_s") else r["server_cpu_s"] * 1e6 / (r["calls"]))

    def client_cpu(self, scenario, peer, client):
        return self.metric(scenario, peer, client, lambda r: r["client_cpu_us_per_call"])

    def errors(self, scenario, peer, client):
        return sum(sum(r.get("errors", {}).values()) for r in self.pick(scenario, peer, client))


def safe(fn, row):
    try:
        return fn(row)
    except (KeyError, TypeError, ZeroDivisionError):
        return None


def fmt(v, digits=0, suffix=""):
    if v is None:
        return "—"
    if digits == 0:
        return f"{v:,.0f}{suffix}"
    return f"{v:,.{digits}f}{suffix}"


def ratio(a, b):
    if a is None or b is None or b == 0:
        return "—"
    return f"{a / b:.2f}×"


PEERS = [("ferry", "Ferry"), ("tonic", "tonic 0.14.9"), ("go", "grpc-go"), ("cpp", "gRPC C++")]

STREAMS = [
    ("s3-ss-1m-1", "server-streaming, 1 MiB, 1 stream", "s3-tcp-1048576"),
    ("s3-ss-64k-1", "server-streaming, 64 KiB, 1 stream", "s3-tcp-65536"),
    ("s3-ss-1m-16", "server-streaming, 1 MiB, 16 streams", "s3-tcp-1048576"),
    ("s3-ss-64k-16", "server-streaming, 64 KiB, 16 streams", "s3-tcp-65536"),
    ("s3-cs-1m-1", "client-streaming, 1 MiB, 1 stream", "s3-tcp-1048576"),
    ("s3-cs-64k-1", "client-streaming, 64 KiB, 1 stream", "s3-tcp-65536"),
    ("s3-cs-1m-16", "client-streaming, 1 MiB, 16 streams", "s3-tcp-1048576"),
    ("s3-cs-64k-16", "client-streaming, 64 KiB, 16 streams", "s3-tcp-65536"),
]


def table(rows, command, quick):
    R = Results(rows)
    rounds = max((r.get("round", 1) for r in rows), default=0)
    lines = []
    add = lines.append
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    add(f"Run on {now}{' (quick mode: 1 round, short measurements — for iteration only)' if quick else ''}, "
        f"{rounds} round(s), medians. Command: `{command.strip()}`.")
    add("")
    add("Machine: " + sh("lscpu | sed -n 's/^Model name: *//p' | head -1") + f", {os.cpu_count()} vCPU, Linux "
        + sh("uname -r") + ", " + sh("rustc --version") + "; server pinned to core 0, load generator to core 1 "
        "(`taskset`). Peers: tonic 0.14.9 (crates.io, pinned), grpc-go "
        + sh("dpkg-query -W -f='${Version}' golang-google-grpc-dev") + " on " + sh("go version | cut -d' ' -f3")
        + ", gRPC C++ " + sh("dpkg-query -W -f='${Version}' libgrpc++-dev") + " (callback API), h2load "
        + sh("h2load --version | head -1 | cut -d' ' -f2") + ". Load average at the end: "
        + sh("cut -d' ' -f1-3 /proc/loadavg") + ".")
    add("")
    # The 15-minute load average says whether other work shared the two
    # cores during the run (the benchmark itself keeps about one busy).
    load15 = float(sh("cut -d' ' -f3 /proc/loadavg") or 0)
    if load15 > 2.5:
        add(f"**Noise:** the 15-minute load average was {load15:.2f} on 2 cores: other work shared the "
            "machine during the run, so any number can be off by tens of percent; compare peers within "
            "one run, and use the callgrind instruction counts below for before/after of optimisations.")
    else:
        add(f"**Noise:** the 15-minute load average was {load15:.2f} on 2 cores (the benchmark's own load): "
            "nothing else heavy ran. Single runs still vary by about 10 %; compare peers within one run.")
    add("")

    add("### Scenario 1: unary, 100-byte string, 50 connections × 20 calls in flight")
    add("")
    add("| server | h2load calls/s | × tonic | h2load mean latency | ferry-bench calls/s | × tonic | p50 | p99 | server CPU per call |")
    add("|---|---|---|---|---|---|---|---|---|")
    t_h2 = R.rate("s1-h2load", "tonic", "h2load")
    t_fb = R.rate("s1-unary", "tonic", "ferry")
    for peer, name in PEERS:
        h2 = R.rate("s1-h2load", peer, "h2load")
        fb = R.rate("s1-unary", peer, "ferry")
        add(f"| {name} | {fmt(h2)} | {ratio(h2, t_h2)} | {fmt(R.lat('s1-h2load', peer, 'h2load', 'mean'), 0, ' µs')} "
            f"| {fmt(fb)} | {ratio(fb, t_fb)} | {fmt(R.lat('s1-unary', peer, 'ferry', 'p50'), 0, ' µs')} "
            f"| {fmt(R.lat('s1-unary', peer, 'ferry', 'p99'), 0, ' µs')} "
            f"| {fmt(R.server_cpu('s1-unary', peer, 'ferry'), 1, ' µs')} |")
    add("")
    add("ferry-bench uses the Ferry client (`--connections 50 --concurrency 1000`); h2load sends the same pre-framed "
        "request (`-c 50 -m 20`). Server CPU per call: the server process's user + system time over the "
        "measured window (`/proc/<pid>/stat`) divided by the calls completed in it.")
    add("")

    add("### Scenario 2: unary, one call in flight on one connection (latency)")
    add("")
    add("| client → server | p50 | p90 | p99 | p99.9 | calls/s | server CPU per call |")
    add("|---|---|---|---|---|---|---|")
    pairs = [("ferry", "ferry", "Ferry → Ferry"), ("tonic", "tonic", "tonic → tonic"), ("ferry", "tonic", "Ferry → tonic"),
             ("ferry", "go", "Ferry → grpc-go"), ("ferry", "cpp", "Ferry → gRPC C++")]
    for client, peer, name in pairs:
        add(f"| {name} | " + " | ".join(fmt(R.lat('s2-latency', peer, client, q), 1, ' µs') for q in ("p50", "p90", "p99", "p99.9"))
            + f" | {fmt(R.rate('s2-latency', peer, client))} | {fmt(R.server_cpu('s2-latency', peer, client), 1, ' µs')} |")
    add("")
    # Every peer's latency is measured back to back at the start of a round:
    # the ratio within a round shows how much of the spread is the machine.
    def p50(peer, client, rnd):
        return [r["latency_us"]["p50"] for r in rows if r["scenario"] == "s2-latency" and r["peer"] == peer
                and r.get("client", "ferry") == client and r.get("round", 1) == rnd and r.get("latency_us")]
    s2_rounds = []
    for rnd in sorted({r.get("round", 1) for r in rows if r["scenario"] == "s2-latency"}):
        a, b = p50("ferry", "ferry", rnd), p50("tonic", "tonic", rnd)
        if a and b:
            s2_rounds.append(a[0] / b[0])
    if s2_rounds:
        add("Ferry → Ferry ÷ tonic → tonic p50 within each round (the two measured seconds apart): "
            + ", ".join(f"{x:.2f}×" for x in s2_rounds) + ". The target below uses the ratio of the medians.")
        add("")

    add("### Scenario 3: streaming throughput (MB/s of message payload)")
    add("")
    add("| case | TCP ceiling | Ferry → Ferry | tonic → tonic | Ferry → tonic | Ferry → grpc-go | Ferry → gRPC C++ | Ferry ÷ tonic (stacks) | Ferry ÷ TCP |")
    add("|---|---|---|---|---|---|---|---|---|")
    for key, label, tcp in STREAMS:
        ceiling = R.metric(tcp, "tcp", "tcp", lambda r: r["bytes_per_s"] / 1e6)
        ff = R.mbps(key, "ferry", "ferry")
        tt = R.mbps(key, "tonic", "tonic")
        add(f"| {label} | {fmt(ceiling)} | {fmt(ff)} | {fmt(tt)} | {fmt(R.mbps(key, 'tonic', 'ferry'))} "
            f"| {fmt(R.mbps(key, 'go', 'ferry'))} | {fmt(R.mbps(key, 'cpp', 'ferry'))} | {ratio(ff, tt)} | {ratio(ff, ceiling)} |")
    add("")
    add("The TCP ceiling is `tcp-ceiling`: a plain Rust sender writing buffers of the message size to a receiver "
        "that discards them, same cores, same run.")
    add("")

    add("### Scenario 4: bidi ping-pong, one 100-byte message in flight")
    add("")
    add("| client → server | round trips/s | p50 | p99 | server CPU per round trip |")
    add("|---|---|---|---|---|")
    for client, peer, name in pairs:
        add(f"| {name} | {fmt(R.rate('s4-pingpong', peer, client))} | {fmt(R.lat('s4-pingpong', peer, client, 'p50'), 1, ' µs')} "
            f"| {fmt(R.lat('s4-pingpong', peer, client, 'p99'), 1, ' µs')} | {fmt(R.server_cpu('s4-pingpong', peer, client), 1, ' µs')} |")
    add("")

    add("### Scenario 5: client efficiency (unary, 50 × 20, the same peer server)")
    add("")
    add("| server | Ferry client calls/s | client CPU per call | tonic client calls/s | client CPU per call | Ferry ÷ tonic (calls/s) | tonic ÷ Ferry (CPU per call) |")
    add("|---|---|---|---|---|---|---|")
    for peer, name in PEERS[2:]:
        f, t = R.rate("s1-unary", peer, "ferry"), R.rate("s1-unary", peer, "tonic")
        fc, tc = R.client_cpu("s1-unary", peer, "ferry"), R.client_cpu("s1-unary", peer, "tonic")
        add(f"| {name} | {fmt(f)} | {fmt(fc, 1, ' µs')} | {fmt(t)} | {fmt(tc, 1, ' µs')} | {ratio(f, t)} | {ratio(tc, fc)} |")
    add("")
    add("Both clients run on one core. When the server is the bottleneck, calls/s "
        "says little about the client; the measurement below fixes the clients' CPU budget instead.")
    add("")
    budget = next((r["cpu_budget_pct"] for r in rows
                   if r["scenario"] == "s5-budget" and r.get("cpu_budget_pct")), None)
    if budget is not None:
        add(f"**At a fixed CPU budget**: the same calls with each client limited to {budget} % of its core "
            "(a cgroup CPU quota, 10 ms period), so that the client, not the peer server, sets the pace.")
        add("")
        add("| server | Ferry client calls/s | p50 | tonic client calls/s | p50 | Ferry ÷ tonic (calls/s) |")
        add("|---|---|---|---|---|---|")
        for peer, name in PEERS[2:]:
            f, t = R.rate("s5-budget", peer, "ferry"), R.rate("s5-budget", peer, "tonic")
            add(f"| {name} | {fmt(f)} | {fmt(R.lat('s5-budget', peer, 'ferry', 'p50'), 0, ' µs')} | {fmt(t)} "
                f"| {fmt(R.lat('s5-budget', peer, 'tonic', 'p50'), 0, ' µs')} | {ratio(f, t)} |")
        add("")

    add("### Scenario 6: memory (resident set growth of a fresh server)")
    add("")
    add("| server | per idle connection | × tonic | per open streaming call | × tonic |")
    add("|---|---|---|---|---|")

    def per(scenario, peer):
        return R.metric(scenario, peer, None, lambda r: (r["rss_after_kb"] - r["rss_before_kb"]) / r["count"])
    ti, ts = per("s6-idle", "tonic"), per("s6-streams", "tonic")
    counts = {r["scenario"]: r.get("count") for r in rows if r["scenario"].startswith("s6")}
    for peer, name in PEERS:
        i, s = per("s6-idle", peer), per("s6-streams", peer)
        add(f"| {name} | {fmt(i, 1, ' KiB')} | {ratio(i, ti)} | {fmt(s, 2, ' KiB')} | {ratio(s, ts)} |")
    add("")
    add(f"{counts.get('s6-idle', '?')} idle connections (each made one unary call, then stayed open), and "
        f"{counts.get('s6-streams', '?')} open bidi calls over 50 connections (one ping-pong each, then held), opened by "
        "the Ferry client; one round: VmRSS after minus before, divided by the count.")
    add("")

    add("### Targets")
    add("")
    add("| target | measured | holds |")
    add("|---|---|---|")

    def verdict(ok):
        return "—" if ok is None else ("yes" if ok else "**no**")
    f1 = R.rate("s1-h2load", "ferry", "h2load")
    others = [R.rate("s1-h2load", p, "h2load") for p in ("go", "cpp")]
    ok1 = None if None in (f1, t_h2) else (f1 >= 2 * t_h2 and all(o is None or f1 > o for o in others))
    p99f, p99t = R.lat("s1-unary", "ferry", "ferry", "p99"), R.lat("s1-unary", "tonic", "ferry", "p99")
    add(f"| S1: ≥ 2× tonic's calls/s (h2load), lower p99, more than grpc-go and C++ | {ratio(f1, t_h2)} of tonic; "
        f"p99 {fmt(p99f, 0, ' µs')} vs {fmt(p99t, 0, ' µs')} | {verdict(ok1 if ok1 is None or p99f is None else ok1 and p99f < p99t)} |")
    lf, lt = R.lat("s2-latency", "ferry", "ferry", "p50"), R.lat("s2-latency", "tonic", "tonic", "p50")
    add(f"| S2: Ferry→Ferry p50 ≤ 0.7× tonic→tonic | {ratio(lf, lt)} | {verdict(None if None in (lf, lt) else lf <= 0.7 * lt)} |")
    for key, label, tcp in (STREAMS[0], STREAMS[4]):
        ff, tt = R.mbps(key, "ferry", "ferry"), R.mbps(key, "tonic", "tonic")
        ceiling = R.metric(tcp, "tcp", "tcp", lambda r: r["bytes_per_s"] / 1e6)
        ok = None if None in (ff, tt, ceiling) else (ff >= 2 * tt and ff >= ceiling / 2)
        add(f"| S3 ({label}): ≥ 2× tonic and ≥ ½ TCP | {ratio(ff, tt)} of tonic, {ratio(ff, ceiling)} of TCP | {verdict(ok)} |")
    # Calls/s at the same CPU budget when the run could fix one; else at one core each.
    s5, at = ("s5-budget", f"{budget} % of a core") if budget is not None else ("s1-unary", "one core")
    for peer, name in PEERS[2:]:
        f, t = R.rate(s5, peer, "ferry"), R.rate(s5, peer, "tonic")
        add(f"| S5 (against {name}): Ferry client ≥ 1.5× tonic client's calls/s, each on {at} | {ratio(f, t)} "
            f"| {verdict(None if None in (f, t) else f >= 1.5 * t)} |")
    i, t = per("s6-idle", "ferry"), ti
    add(f"| S6: ≤ ½ tonic's memory per idle connection | {ratio(i, t)} | {verdict(None if None in (i, t) else i <= t / 2)} |")
    errs = sum(sum(r.get("errors", {}).values()) for r in rows)
    add("")
    add(f"Errors across the whole run: {errs}." if errs == 0 else
        f"Errors across the whole run: {errs} (by scenario and peer: "
        + ", ".join(f"{r['scenario']}/{r['peer']}/{r.get('client')}: {r['errors']}" for r in rows if r.get("errors")) + ").")
    return "\n".join(lines) + "\n"


def native_table(rows, command, quick):
    R = Results(rows)
    rounds = max((r.get("round", 1) for r in rows if r["scenario"].startswith("s7-")), default=0)
    lines = []
    add = lines.append
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    add(f"Run on {now}{' (quick mode)' if quick else ''}, {rounds} round(s), medians. Command: "
        f"`{command.strip()}`. Load average at the end: " + sh("cut -d' ' -f1-3 /proc/loadavg") + ".")
    add("")
    add("| protocol | calls/s | p50 | p99 | server CPU per call | client CPU per call |")
    add("|---|---|---|---|---|---|")
    for key, name in (("s7-grpc", "gRPC (HTTP/2)"), ("s7-native", "native")):
        add(f"| {name} | {fmt(R.rate(key, 'ferry', 'ferry'))} | {fmt(R.lat(key, 'ferry', 'ferry', 'p50'), 0, ' µs')} "
            f"| {fmt(R.lat(key, 'ferry', 'ferry', 'p99'), 0, ' µs')} | {fmt(R.server_cpu(key, 'ferry', 'ferry'), 1, ' µs')} "
            f"| {fmt(R.client_cpu(key, 'ferry', 'ferry'), 1, ' µs')} |")
    add("")
    per_round = []
    for rnd in sorted({r.get("round", 1) for r in rows if r["scenario"] == "s7-native"}):
        a = [r["calls_per_s"] for r in rows if r["scenario"] == "s7-native" and r.get("round", 1) == rnd]
        b = [r["calls_per_s"] for r in rows if r["scenario"] == "s7-grpc" and r.get("round", 1) == rnd]
        if a and b and b[0]:
            per_round.append(a[0] / b[0])
    # The two protocols of one round ran back to back, so the ratio within a
    # round is less exposed to the machine's load than the ratio of medians.
    paired = median(per_round)
    verdict = "—" if paired is None else ("yes" if paired >= 1.5 else "**no**")
    cpu = [R.server_cpu("s7-native", "ferry", "ferry"), R.server_cpu("s7-grpc", "ferry", "ferry"),
           R.client_cpu("s7-native", "ferry", "ferry"), R.client_cpu("s7-grpc", "ferry", "ferry")]
    add(f"Native ÷ gRPC calls/s, median of the rounds' ratios: **{'—' if paired is None else f'{paired:.2f}×'}** "
        f"(per round: {', '.join(f'{x:.2f}×' for x in per_round) or '—'}); target ≥ 1.50×: {verdict}. "
        f"CPU per call, native ÷ gRPC: server {ratio(cpu[0], cpu[1])}, client {ratio(cpu[2], cpu[3])}. "
        "Errors: " + str(R.errors("s7-native", "ferry", "ferry") + R.errors("s7-grpc", "ferry", "ferry")) + ".")
    add("")
    add("`ferry-bench --protocol native|grpc --call unary --size 100 --connections 8 --concurrency 256` against "
        "one `ferry-bench-server` (server on core 0, load generator on core 1); the two protocols alternate "
        "within each round. CPU per call as in scenario 1 (process user + system time over the measured window "
        "divided by the calls).")
    return "\n".join(lines) + "\n"


def write_block(path, body, begin, end, heading):
    text = open(path).read()
    block = f"{begin}\n{body}{end}"
    if begin in text and end in text:
        text = text[:text.index(begin)] + block + text[text.index(end) + len(end):]
    else:
        marker = "## Wire core micro-benchmarks"
        section = f"{heading}\n\n{block}\n\n"
        text = text.replace(marker, section + marker, 1) if marker in text else text + "\n" + section
    open(path, "w").write(text)


def write(path, body):
    write_block(path, body, BEGIN, END, "## Peers: Ferry, tonic, grpc-go, gRPC C++ (`bench/run.sh`)")


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "h2load":
        print(json.dumps(parse_h2load(sys.argv[2])))
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("cmd", choices=["table"])
    ap.add_argument("raw")
    ap.add_argument("--command", default="bench/run.sh")
    ap.add_argument("--quick", default="0")
    ap.add_argument("--write")
    a = ap.parse_args()
    rows = [json.loads(line) for line in open(a.raw) if line.strip()]
    quick = a.quick == "1"
    native = [r for r in rows if r["scenario"].startswith("s7-")]
    others = [r for r in rows if not r["scenario"].startswith("s7-")]
    if others:
        body = table(others, a.command, quick)
        if a.write:
            write(a.write, body)
            print(f"report.py: wrote the results into {a.write}")
        else:
            print(body)
    if native:
        body = native_table(native, a.command, quick)
        if a.write:
            write_block(a.write, body, NATIVE_BEGIN, NATIVE_END,
                        "## Native protocol vs gRPC on one Ferry server (issue 7, `bench/run.sh --only native`)")
            print(f"report.py: wrote scenario 7 into {a.write}")
        else:
            print(body)


if __name__ == "__main__":
    main()
