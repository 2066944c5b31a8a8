#!/usr/bin/python3
"""Acceptance, A/B: two (or more) postern builds under run.py's injection
load (`smtp-source -s 20 -l 4096`), alternating in the same minutes, with
the CPU of each service per message and the 20-thread fsync ceiling
measured before and after:

    bench/accept_ab.py [--n 2000] [--reps 3] [--hold]
                       [--perf LABEL | --strace LABEL:COMM]
                       LABEL=BUILD_DIR LABEL=BUILD_DIR ...

Without --hold the messages are relayed to smtp-sink as in `make bench`
(delivery competes for the two cores); with --hold the smarthost is a
socket that never answers, so qmgr and remote do almost nothing and the
numbers are those of acceptance alone (the queue is emptied between
runs with the instance stopped). --perf records the tree of one build
(`perf record -g`, /tmp/accept_ab.perf) in its first run; --strace counts
the system calls of one service (`strace -c -f`, /tmp/accept_ab.strace).
Bounded: every run has a time cap; processes are stopped by PID.
"""
import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402
from ab_relay import cpu_by_prog  # noqa: E402

CAP = 90


def make(label, build):
    class P(run.Postern):
        name = "postern_" + label

        def cli(self, *args):
            return subprocess.run([os.path.join(build, "postern"), "-c",
                                   self.conf] + list(args), env=self.env,
                                  capture_output=True, text=True, timeout=60)

        def local_line(self, mode):
            return "mailbox = mbox:%s/mail/%%u" % self.base

        def setup(self):
            old = run.BUILD
            run.BUILD = build
            try:
                super().setup()
            finally:
                run.BUILD = old

        def purge(self):
            """Stopped: remove every queued message."""
            for sub in ("incoming", "active", "deferred"):
                d = os.path.join(self.queue, sub)
                for root, _, files in os.walk(d):
                    for f in files:
                        os.unlink(os.path.join(root, f))
    return P


class Hold:
    """A smarthost that takes connections into its backlog and never
    answers: remote waits, nothing is delivered."""

    def __init__(self):
        self.port = run.free_port("127.0.0.2")
        self.s = socket.socket()
        self.s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.s.bind(("127.0.0.2", self.port))
        self.s.listen(64)

    def start(self):
        pass

    def count(self):
        return 0

    def stop(self):
        self.s.close()


def per_comm(root):
    """{command name: CPU seconds} of the tree (ab_relay's count: a
    retired worker's time counts for master, which reaped it)."""
    return cpu_by_prog(root)


def pids_of(root, comm):
    out = []
    for pid in run.tree(root)[0]:
        try:
            with open("/proc/%d/comm" % pid) as f:
                if f.read().strip() == comm:
                    out.append(str(pid))
        except OSError:
            pass
    return out


def tracer(args, label, m, first):
    if not first:
        return None
    if args.perf == label:
        pids = ",".join(str(p) for p in run.tree(m.root)[0])
        cmd = ["perf", "record", "-F", "1999", "-g", "-o",
               "/tmp/accept_ab.perf", "-p", pids]
    elif args.strace and args.strace.split(":")[0] == label:
        comm = args.strace.split(":")[1]
        cmd = ["strace", "-c", "-f", "-o", "/tmp/accept_ab.strace"]
        for p in pids_of(m.root, comm):
            cmd += ["-p", p]
    else:
        return None
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    time.sleep(1.5)
    return p


def one(args, label, m, first):
    c0 = per_comm(m.root)
    tr = tracer(args, label, m, first)
    if args.hold:
        inj, rc, err = run.smtp_source(m.port, args.n, 20, m.relay_rcpt,
                                       CAP)
        r = {"inject_rate": round(args.n / inj, 1), "rc": rc}
    else:
        r = run.w_relay(m, args.n, CAP)
    if tr:
        tr.send_signal(2)
        tr.wait(60)
    c1 = per_comm(m.root)
    r["cpu_ms"] = {k: round((c1[k] - c0.get(k, 0)) * 1000 / args.n, 3)
                   for k in c1 if c1[k] - c0.get(k, 0) > 0}
    if args.hold:
        m.stop()
        m.purge()
        m.start()
    return r


def ceiling(base):
    c = run.fsync_ceiling(base, True)
    return c["threads_20"]["runs"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--hold", action="store_true")
    ap.add_argument("--perf")
    ap.add_argument("--strace")
    ap.add_argument("builds", nargs="+")
    args = ap.parse_args()
    builds = [b.split("=", 1) for b in args.builds]
    run.CONFIGS = tempfile.mkdtemp(prefix="accept-ab-cf-")
    base = tempfile.mkdtemp(prefix="accept-ab-", dir="/var/tmp")
    os.chmod(base, 0o755)
    sink = Hold() if args.hold else run.Sink(base)
    mtas, res, ceil = {}, {}, []
    print("uptime", os.getloadavg(), flush=True)
    try:
        sink.start()
        ceil += ceiling(base)
        for label, b in builds:
            m = make(label, b)(base, sink)
            m.setup()
            m.start()
            if not args.hold:
                run.w_relay(m, 100, 30)
            mtas[label] = m
        for i in range(args.reps):
            for label, m in mtas.items():
                r = one(args, label, m, i == 0)
                res.setdefault(label, []).append(r)
                print(label, json.dumps(r), flush=True)
        ceil += ceiling(base)
    finally:
        for m in mtas.values():
            try:
                m.stop()
            except Exception as e:  # noqa: BLE001
                print("stop", e)
        sink.stop()
        shutil.rmtree(base, ignore_errors=True)
        shutil.rmtree(run.CONFIGS, ignore_errors=True)
    print("uptime", os.getloadavg())
    c20 = statistics.median(ceil)
    print("ceiling20 runs", ceil, "median", c20)
    first = None
    for label, rs in res.items():
        inj = statistics.median(r["inject_rate"] for r in rs)
        first = first or inj
        comms = sorted({k for r in rs for k in r["cpu_ms"]})
        cpu = {k: statistics.median(r["cpu_ms"].get(k, 0) for r in rs)
               for k in comms}
        print("%-8s inj %7.1f (x%.2f) inj/ceil %.3f cpu ms/msg %s" %
              (label, inj, inj / first, inj / c20,
               " ".join("%s %.2f" % (k, v) for k, v in
                        sorted(cpu.items(), key=lambda kv: -kv[1]))))


if __name__ == "__main__":
    main()
