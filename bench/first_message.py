#!/usr/bin/python3
"""The first message after a quiet period, and what postern holds at
rest, for two builds side by side (A/B in the same minutes, alternating):

    bench/first_message.py [--builds OLD_BUILD,NEW_BUILD] [--n 20]
                           [--idle 2] [--postfix]

For each build: a private instance with bench/run.py's postern config
(max_idle = --idle s where the build knows the key), 200 messages relayed
to warm every pool, then --n rounds of: wait --idle + 3 s (cold: the
pools have shrunk), one message to a local mbox (connect to 250, and to
the message in the mbox), then at once a second one (warm). Prints the
medians, the processes and PSS at rest, and Postfix's at rest with
--postfix. Bounded: every wait is capped; processes stopped by PID.
"""
import argparse
import os
import smtplib
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402


def one(mta, box, tag):
    """(ms connect -> 250 after DATA, ms connect -> in the mbox)."""
    try:
        size = os.path.getsize(box)
    except OSError:
        size = 0
    body = ("Subject: %s\r\n\r\nfirst message\r\n" % tag).encode()
    t0 = time.perf_counter()
    s = smtplib.SMTP("127.0.0.1", mta.port, timeout=30)
    s.sendmail("a@client.example", ["%s@localhost" % run.LOCAL_USERS[0]],
               body)
    t1 = time.perf_counter()
    s.quit()
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            if os.path.getsize(box) > size:
                with open(box, "rb") as f:
                    f.seek(size)
                    if tag.encode() in f.read():
                        break
        except OSError:
            pass
        time.sleep(0.0005)
    t2 = time.perf_counter()
    return (t1 - t0) * 1000, (t2 - t0) * 1000


def start(build, base, sink, idle):
    run.BUILD = build
    knows = b"max_idle" in open(os.path.join(build, "postern"), "rb").read() \
        and b"pooled workers do not exit" not in \
        open(os.path.join(build, "postern"), "rb").read()
    m = run.Postern(base, sink)
    m.setup()
    with open(m.conf) as f:
        text = f.read()
    line = "max_idle = %ds\n" % run.REST_IDLE
    text = text.replace(line, "max_idle = %ds\n" % idle if knows else "")
    with open(m.conf, "w") as f:
        f.write(text)
    m.start()
    return m


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--builds", default="/tmp/pstod_main_build," +
                    run.BUILD)
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--idle", type=int, default=2)
    ap.add_argument("--postfix", action="store_true")
    a = ap.parse_args()
    builds = a.builds.split(",")
    top = run.tempfile.mkdtemp(prefix="pstod-first-", dir="/var/tmp")
    os.chmod(top, 0o755)
    created = run.ensure_users()
    sink = run.Sink(top)
    sink.start()
    mtas, res = [], {}
    try:
        for i, b in enumerate(builds):
            d = os.path.join(top, "b%d" % i)
            os.makedirs(d)
            os.chmod(d, 0o755)
            m = start(b, d, sink, a.idle)
            mtas.append(m)
            run.w_relay(m, 200, 60)
            res[b] = {"cold": [], "warm": []}
        time.sleep(a.idle + 3)
        for i, b in enumerate(builds):
            r, p, n = run.tree_mem(mtas[i].root)
            res[b]["rest"] = (n, r // 1024, p // 1024)
        for k in range(a.n):
            time.sleep(a.idle + 3)
            for i, b in enumerate(builds):   # alternate, same minute
                box = os.path.join(mtas[i].base, "mail", run.LOCAL_USERS[0])
                res[b]["cold"].append(one(mtas[i], box, "cold%d" % k))
                res[b]["warm"].append(one(mtas[i], box, "warm%d" % k))
        if a.postfix:
            d = os.path.join(top, "postfix")
            os.makedirs(d)
            pf = run.Postfix(d, sink)
            pf.setup()
            pf.start()
            try:
                run.w_relay(pf, 200, 60)
                time.sleep(run.REST_IDLE + 5)
                r, p, n = run.tree_mem(pf.root)
                res["postfix"] = {"rest": (n, r // 1024, p // 1024)}
            finally:
                pf.stop()
    finally:
        for m in mtas:
            m.stop()
        sink.stop()
        for u in created:
            run.subprocess.run(["userdel", u], check=False)
        run.shutil.rmtree(top, ignore_errors=True)
    for b, r in res.items():
        print("%s: at rest %d processes, RSS %d KiB, PSS %d KiB" % (
            (b,) + r["rest"]))
        for kind in ("cold", "warm"):
            if r.get(kind):
                print("  %s: connect->250 median %.1f ms, connect->mbox "
                      "median %.1f ms (n=%d)" % (
                          kind, statistics.median(x[0] for x in r[kind]),
                          statistics.median(x[1] for x in r[kind]),
                          len(r[kind])))


if __name__ == "__main__":
    main()
