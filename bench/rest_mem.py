#!/usr/bin/python3
"""Where postern's memory at rest is: per process of the tree, and per
mapping kind (the program, each shared library, heap, stacks, anonymous),
PSS and private pages, from /proc/PID/smaps.

    bench/rest_mem.py [--build DIR] [--messages 1000] [--idle 10]
                      [--quiet 15] [--pid MASTER_PID] [--detail]

Without --pid: a private instance with bench/run.py's postern config
(max_idle = --idle s), --messages relayed to a sink, --quiet s without
traffic, then the table; everything started here is stopped by PID.
With --pid: the table of that running tree only.
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402


def kind(name, exe):
    if not name:
        return "[anon]"
    if name.startswith("["):
        return "[stack]" if name.startswith("[stack") else name
    if name == exe:
        return "(program)"
    base = os.path.basename(name)
    return base.split(".so")[0] + ".so" if ".so" in base else base


def smaps(pid):
    """{kind: [pss, private_clean + private_dirty, rss]} in KiB."""
    exe = os.readlink("/proc/%d/exe" % pid)
    out, cur = {}, None
    with open("/proc/%d/smaps" % pid) as f:
        for line in f:
            first = line.split(None, 1)[0]
            if not first.endswith(":") or "-" in first:
                parts = line.split(None, 5)
                cur = out.setdefault(kind(parts[5].strip()
                                          if len(parts) > 5 else "", exe),
                                     [0, 0, 0])
                continue
            v = line.split()
            if first == "Pss:":
                cur[0] += int(v[1])
            elif first in ("Private_Clean:", "Private_Dirty:"):
                cur[1] += int(v[1])
            elif first == "Rss:":
                cur[2] += int(v[1])
    return out


def name_of(pid):
    with open("/proc/%d/cmdline" % pid, "rb") as f:
        argv = f.read().split(b"\0")
    s = os.path.basename(argv[0].decode(errors="replace"))
    if b"-s" in argv:
        s += " -s " + argv[argv.index(b"-s") + 1].decode(errors="replace")
    return s


def table(root, detail=False):
    pids, _ = run.tree(root)
    total, per_kind = [0, 0, 0], {}
    print("%-8s %-22s %8s %8s %8s" % ("pid", "process", "PSS", "private",
                                      "RSS"))
    for p in sorted(pids):
        try:
            m = smaps(p)
            n = name_of(p)
        except OSError:
            continue
        s = [sum(x[i] for x in m.values()) for i in range(3)]
        print("%-8d %-22s %8d %8d %8d" % (p, n, *s))
        if detail:
            for k, v in sorted(m.items(), key=lambda kv: -kv[1][0]):
                if v[0] >= 16:
                    print("%8s   %-20s %8d %8d %8d" % ("", k, *v))
        for i in range(3):
            total[i] += s[i]
        for k, v in m.items():
            t = per_kind.setdefault(k, [0, 0, 0, 0])
            for i in range(3):
                t[i] += v[i]
            t[3] += 1
    print("%-31s %8d %8d %8d  (%d processes)" % ("total", *total, len(pids)))
    print()
    print("%-22s %8s %8s %8s %6s" % ("mapping", "PSS", "private", "RSS",
                                     "procs"))
    for k, v in sorted(per_kind.items(), key=lambda kv: -kv[1][0]):
        print("%-22s %8d %8d %8d %6d" % (k, *v))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=run.BUILD)
    ap.add_argument("--messages", type=int, default=1000)
    ap.add_argument("--idle", type=int, default=run.REST_IDLE)
    ap.add_argument("--quiet", type=int, default=run.REST_IDLE + 5)
    ap.add_argument("--pid", type=int, default=0)
    ap.add_argument("--detail", action="store_true",
                    help="each process's mappings too")
    a = ap.parse_args()
    if a.pid:
        table(a.pid, a.detail)
        return
    run.BUILD = os.path.abspath(a.build)
    run.REST_IDLE = a.idle
    top = run.tempfile.mkdtemp(prefix="pstrest-", dir="/var/tmp")
    os.chmod(top, 0o755)
    sink = run.Sink(top)
    sink.start()
    m = None
    try:
        d = os.path.join(top, "p")
        os.makedirs(d)
        os.chmod(d, 0o755)
        m = run.Postern(d, sink)
        m.setup()
        m.start()
        if a.messages:
            run.w_relay(m, a.messages, 120)
        time.sleep(min(a.quiet, 120))
        table(m.root, a.detail)
    finally:
        if m:
            m.stop()
        sink.stop()
        run.shutil.rmtree(top, ignore_errors=True)


if __name__ == "__main__":
    main()
