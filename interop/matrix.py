"""Runs the interop matrix: every client x every server x every case, in
plaintext and over TLS, and prints a markdown table. interop/run.sh builds
everything and calls this; see interop/README.md.

Each client program runs a list of cases in one process and prints
`RESULT <tab> case <tab> pass|fail|unsupported <tab> detail` per case. A
client that prints nothing for WATCHDOG seconds is killed: the case it was
on fails as a hang, and the cases after it run in a new process.
"""

import argparse
import datetime
import os
import queue
import socket
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BUILD = os.path.join(HERE, ".build")
CERTS = os.path.join(BUILD, "certs")
WATCHDOG = 90  # seconds without a result line before a client is declared hung

CASES = [
    "empty_unary", "large_unary", "client_compressed_unary", "server_compressed_unary",
    "client_streaming", "client_compressed_streaming", "server_streaming",
    "server_compressed_streaming", "ping_pong", "empty_stream", "custom_metadata",
    "status_code_and_message", "special_status_message", "unimplemented_method",
    "unimplemented_service", "cancel_after_begin", "cancel_after_first_response",
    "timeout_on_sleeping_server", "concurrent_large_unary", "rpc_soak", "channel_soak",
]

# Server features a peer's library cannot provide: the cases that need them
# are not run against that server.
SERVER_CANNOT = {
    "go": {
        "server_compressed_unary": "grpc-go 1.33 compresses a response only if its request was compressed",
        "server_compressed_streaming": "grpc-go 1.33 compresses a response only if its request was compressed",
    },
    "python": {
        "client_compressed_unary": "grpcio handlers cannot see whether a request was compressed",
        "client_compressed_streaming": "grpcio handlers cannot see whether a request was compressed",
    },
    "node": {
        "client_compressed_unary": "grpc-js handlers cannot see whether a request was compressed",
        "client_compressed_streaming": "grpc-js handlers cannot see whether a request was compressed",
        "server_compressed_unary": "the grpc-js server does not compress responses",
        "server_compressed_streaming": "the grpc-js server does not compress responses",
    },
}

# Ferry bugs this matrix found and that are not fixed yet: (client, server,
# case) with "*" for any. Not run unless --known-bugs (a hang costs the
# watchdog's time); with --known-bugs they run and a failure is reported
# but does not fail the run.
KNOWN_BUGS = {}


def known_bug(client, server, case):
    for (c, s, k), why in KNOWN_BUGS.items():
        if c in ("*", client) and s in ("*", server) and k == case:
            return why
    return None


def python():
    with open(os.path.join(BUILD, "python-path")) as f:
        return f.read().strip()


def server_command(impl, port, tls):
    tls_args = [f"--use_tls=true", f"--cert_file={CERTS}/server.pem", f"--key_file={CERTS}/server.key"] if tls else []
    return {
        "ferry": [os.path.join(ROOT, "target", "debug", "interop-server")],
        "go": [os.path.join(BUILD, "go", "bin", "server")],
        "python": [python(), os.path.join(HERE, "python", "server.py")],
        "node": ["node", os.path.join(HERE, "node", "server.js")],
    }[impl] + [f"--port={port}"] + tls_args


def client_command(impl, port, tls, cases, soak):
    args = [f"--server_host=127.0.0.1", f"--server_port={port}", f"--test_case={','.join(cases)}",
            f"--soak_iterations={soak}"]
    if tls:
        args += ["--use_tls=true", "--use_test_ca=true", f"--ca_file={CERTS}/ca.pem",
                 "--server_host_override=foo.test.google.fr"]
    return {
        "ferry": [os.path.join(ROOT, "target", "debug", "interop-client")],
        "go": [os.path.join(BUILD, "go", "bin", "client")],
        "python": [python(), os.path.join(HERE, "python", "client.py")],
        "node": ["node", os.path.join(HERE, "node", "client.js")],
    }[impl] + args


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port, proc, seconds=60):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            time.sleep(0.1)
    return False


class Server:
    def __init__(self, impl, tls, logdir):
        self.impl, self.tls = impl, tls
        self.port = free_port()
        self.log = open(os.path.join(logdir, f"server-{impl}-{'tls' if tls else 'plain'}.log"), "w")
        self.proc = subprocess.Popen(server_command(impl, self.port, tls), stdout=self.log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        if not wait_listening(self.port, self.proc):
            self.stop()
            raise RuntimeError(f"{impl} server did not start (see {self.log.name})")

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def run_client(impl, port, tls, cases, soak, log):
    """Runs `cases`; returns {case: (outcome, detail)} for the cases it reached."""
    results = {}
    pending = list(cases)
    while pending:
        cmd = client_command(impl, port, tls, pending, soak)
        log.write(f"$ {' '.join(cmd)}\n")
        log.flush()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL,
                                text=True, errors="replace")
        lines = queue.Queue()
        threading.Thread(target=lambda: [lines.put(l) for l in proc.stdout] + [lines.put(None)],
                         daemon=True).start()
        hung = False
        while True:
            try:
                line = lines.get(timeout=WATCHDOG)
            except queue.Empty:
                hung = True
                break
            if line is None:
                break
            log.write(line)
            parts = line.rstrip("\n").split("\t")
            if len(parts) >= 3 and parts[0] == "RESULT":
                results[parts[1]] = (parts[2], parts[3] if len(parts) > 3 else "")
        if hung:
            proc.kill()
        proc.wait()
        rest = [c for c in pending if c not in results]
        if rest:
            why = f"no result in {WATCHDOG}s (hang)" if hung else f"client exited with {proc.returncode}"
            results[rest[0]] = ("fail", why)
            rest = rest[1:]
        pending = rest
    return results


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", default="ferry,go,python,node")
    parser.add_argument("--servers", default="ferry,go,python,node")
    parser.add_argument("--modes", default="plain,tls")
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--soak_iterations", type=int, default=10)
    parser.add_argument("--known-bugs", action="store_true", help="also run the cells of KNOWN_BUGS")
    parser.add_argument("--logdir", default=os.path.join(BUILD, "logs"))
    parser.add_argument("--table", help="also write the markdown table to this file")
    args = parser.parse_args()
    clients, servers = args.clients.split(","), args.servers.split(",")
    modes, cases = args.modes.split(","), args.cases.split(",")
    os.makedirs(args.logdir, exist_ok=True)

    cells = {}  # (mode, client, server, case) -> (outcome, detail)
    started = time.monotonic()
    for mode in modes:
        tls = mode == "tls"
        for server_impl in servers:
            server = Server(server_impl, tls, args.logdir)
            try:
                for client_impl in clients:
                    to_run = []
                    for case in cases:
                        key = (mode, client_impl, server_impl, case)
                        cannot = SERVER_CANNOT.get(server_impl, {}).get(case)
                        bug = known_bug(client_impl, server_impl, case)
                        if cannot:
                            cells[key] = ("unsupported", f"server: {cannot}")
                        elif bug and not args.known_bugs:
                            cells[key] = ("known-bug", f"not run: {bug}")
                        else:
                            to_run.append(case)
                    t0 = time.monotonic()
                    logname = os.path.join(args.logdir, f"{mode}-{client_impl}-to-{server_impl}.log")
                    with open(logname, "w") as log:
                        results = run_client(client_impl, server.port, tls, to_run, args.soak_iterations, log)
                    for case in to_run:
                        outcome, detail = results[case]
                        bug = known_bug(client_impl, server_impl, case)
                        if bug and outcome == "fail":
                            outcome, detail = "known-bug", f"{bug}: {detail}"
                        cells[(mode, client_impl, server_impl, case)] = (outcome, detail)
                    print(f"  {mode:5} {client_impl:>6} -> {server_impl:<6} {time.monotonic() - t0:6.1f}s",
                          file=sys.stderr, flush=True)
                    if not server.alive():
                        raise RuntimeError(f"{server_impl} server died (see its log in {args.logdir})")
            finally:
                server.stop()

    table = render(cells, modes, clients, servers, cases, time.monotonic() - started)
    print(table)
    if args.table:
        with open(args.table, "w") as f:
            f.write(table)
    failed = [k for k, v in cells.items() if v[0] == "fail"]
    return 1 if failed else 0


SYMBOL = {"pass": "ok", "fail": "**FAIL**", "unsupported": "n/s", "known-bug": "bug"}


def render(cells, modes, clients, servers, cases, seconds):
    out = [f"Interop matrix, {datetime.date.today().isoformat()}, {seconds:.0f}s. "
           "Cell: plaintext / TLS. ok = passed (ok* = passed, something not checkable, see notes), "
           "n/s = a library cannot do it (see notes), bug = known Ferry bug, not run.", ""]
    pairs = [(c, s) for c in clients for s in servers]
    out.append("| case | " + " | ".join(f"{c}→{s}" for c, s in pairs) + " |")
    out.append("|---|" + "---|" * len(pairs))
    notes = {}
    for case in cases:
        row = []
        for c, s in pairs:
            marks = []
            for mode in modes:
                outcome, detail = cells[(mode, c, s, case)]
                mark = SYMBOL[outcome]
                if outcome == "pass" and detail:
                    mark = "ok*"
                if detail and outcome != "pass" or mark == "ok*":
                    notes.setdefault((outcome, detail), []).append(f"{mode} {c}→{s} {case}")
                marks.append(mark)
            row.append(" / ".join(marks))
        out.append(f"| {case} | " + " | ".join(row) + " |")
    failures = [(k, v) for k, v in notes.items() if k[0] == "fail"]
    if failures:
        out += ["", "Failures:", ""]
        for (_, detail), where in failures:
            out.append(f"- {', '.join(where)}: {detail}")
    others = [(k, v) for k, v in notes.items() if k[0] != "fail"]
    if others:
        out += ["", "Notes:", ""]
        for (outcome, detail), where in sorted(others):
            shown = where if len(where) <= 4 else where[:3] + [f"and {len(where) - 3} more"]
            out.append(f"- {SYMBOL[outcome] if outcome != 'pass' else 'ok*'}: {detail} ({'; '.join(shown)})")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    sys.exit(main())
