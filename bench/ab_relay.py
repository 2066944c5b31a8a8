#!/usr/bin/python3
"""The relay workload (bench/run.py's w_relay: smtp-source -s 20 -l 4096
-> postern -> smtp-sink) for two or more builds side by side, alternating
in the same minutes, each build on its own instance and sink:

    bench/ab_relay.py --builds A_BUILD,B_BUILD [--n 2000] [--pairs 3]
                      [--log-level info] [--keep DIR]

Per run: injection and end-to-end msg/s, their ratio, CPU ms per message
of the tree and per program (from /proc), and how busy the machine was
(/proc/stat) during the run. Prints every run, then the medians per build
and B/A ratios. --keep DIR leaves each instance's maillog in DIR. As root;
every process started here is stopped by PID; every wait is capped.
"""
import argparse
import os
import shutil
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402


def cpu_by_prog(root):
    """{program: CPU seconds} over the tree (reaped children count for
    their parent: master for a retired worker)."""
    out = {}
    pids, t = run.tree(root)
    for p in pids:
        try:
            with open("/proc/%d/stat" % p) as f:
                st = f.read()
        except OSError:
            continue
        name = st[st.index("(") + 1:st.rindex(")")]
        out[name] = out.get(name, 0) + t[p][1] / run.HZ
    return out


def switches_by_prog(root):
    """{program: voluntary context switches} over the tree's threads: a
    count of wake-ups that the machine's load does not change."""
    out = {}
    pids, _ = run.tree(root)
    for p in pids:
        try:
            tasks = os.listdir("/proc/%d/task" % p)
            with open("/proc/%d/comm" % p) as f:
                name = f.read().strip()
        except OSError:
            continue
        for t in tasks:
            try:
                with open("/proc/%d/task/%s/status" % (p, t)) as f:
                    for line in f:
                        if line.startswith("voluntary_ctxt_switches:"):
                            out[name] = out.get(name, 0) + int(
                                line.split()[1])
            except OSError:
                pass
    return out


def machine_ticks():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]
    return sum(v), idle


def loadavg():
    with open("/proc/loadavg") as f:
        return f.read().split()[0]


class Inst:
    def __init__(self, build, base, level):
        self.build = build
        os.makedirs(base)
        os.chmod(base, 0o755)
        self.sink = run.Sink(base)
        self.sink.start()
        run.BUILD = build
        self.m = run.Postern(base, self.sink)
        self.m.setup()
        with open(self.m.conf) as f:
            text = f.read()
        with open(self.m.conf, "w") as f:
            f.write(text.replace("log_level = info",
                                 "log_level = %s" % level))
        self.m.start()

    def relay(self, n):
        run.BUILD = self.build
        c0 = cpu_by_prog(self.m.root)
        s0 = switches_by_prog(self.m.root)
        t0, i0 = machine_ticks()
        r = run.w_relay(self.m, n, 60)
        t1, i1 = machine_ticks()
        c1 = cpu_by_prog(self.m.root)
        s1 = switches_by_prog(self.m.root)
        r["prog_cs"] = {k: round((s1.get(k, 0) - s0.get(k, 0)) /
                                 max(r["delivered"], 1), 2)
                        for k in ("qmgr", "remote") if k in s1}
        r["busy"] = round(1 - (i1 - i0) / max(t1 - t0, 1), 2)
        r["prog_ms"] = {k: round((c1.get(k, 0) - c0.get(k, 0)) * 1000 /
                                 max(r["delivered"], 1), 2)
                        for k in c1}
        return r

    def stop(self):
        run.BUILD = self.build
        self.m.stop()
        self.sink.stop()


def show(tag, r):
    progs = " ".join("%s=%.2f" % (k, v) for k, v in
                     sorted(r["prog_ms"].items()) if v >= 0.01)
    print("%-28s inj %6.1f e2e %6.1f ratio %.2f cpu %.2f ms/msg busy %.2f "
          "load %s%s [%s] switches/msg %s" % (
              tag[-28:], r["inject_rate"], r["relay_rate"],
              r["relay_rate"] / r["inject_rate"], r["cpu_per_1000"],
              r["busy"], r["load"], " CAPPED" if r["capped"] else "",
              progs, r["prog_cs"]), flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--builds", required=True)
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--pairs", type=int, default=3)
    ap.add_argument("--log-level", default="info")
    ap.add_argument("--keep", default=None)
    a = ap.parse_args()
    builds = [os.path.abspath(b) for b in a.builds.split(",")]
    top = run.tempfile.mkdtemp(prefix="pstab-", dir="/var/tmp")
    os.chmod(top, 0o755)
    insts, res = [], {b: [] for b in builds}
    try:
        for i, b in enumerate(builds):
            insts.append(Inst(b, os.path.join(top, "b%d" % i),
                              a.log_level))
            insts[-1].relay(200)            # warm-up: pools grown
        for k in range(a.pairs):
            order = list(range(len(builds)))
            if k % 2:
                order.reverse()
            for i in order:
                r = insts[i].relay(a.n)
                r["load"] = loadavg()
                res[builds[i]].append(r)
                show("%d %s" % (k, builds[i]), r)
    finally:
        for i, x in enumerate(insts):
            x.stop()
            if a.keep:
                os.makedirs(a.keep, exist_ok=True)
                shutil.copy(os.path.join(x.m.base, "maillog"),
                            os.path.join(a.keep, "maillog.b%d" % i))
        shutil.rmtree(top, ignore_errors=True)
    med = {}
    for b in builds:
        rs = res[b]
        if not rs:
            continue
        med[b] = {
            "inj": statistics.median(r["inject_rate"] for r in rs),
            "e2e": statistics.median(r["relay_rate"] for r in rs),
            "ratio": statistics.median(r["relay_rate"] / r["inject_rate"]
                                       for r in rs),
            "cpu": statistics.median(r["cpu_per_1000"] for r in rs)}
        progs = sorted({p for r in rs for p in r["prog_ms"]})
        pm = " ".join("%s=%.2f" % (p, statistics.median(
            r["prog_ms"].get(p, 0) for r in rs)) for p in progs)
        cs = " ".join("%s=%.2f" % (p, statistics.median(
            r["prog_cs"].get(p, 0) for r in rs)) for p in ("qmgr", "remote"))
        print("median %s: inj %.1f e2e %.1f e2e/inj %.2f cpu %.2f ms/msg "
              "[%s] switches/msg [%s]" % (
                  b, med[b]["inj"], med[b]["e2e"], med[b]["ratio"],
                  med[b]["cpu"], pm, cs))
    if len(med) >= 2:
        a0 = med[builds[0]]
        for b in builds[1:]:
            print("%s / %s: inj %.2f e2e %.2f cpu %.2f" % (
                b, builds[0], med[b]["inj"] / a0["inj"],
                med[b]["e2e"] / a0["e2e"], med[b]["cpu"] / a0["cpu"]))


if __name__ == "__main__":
    main()
