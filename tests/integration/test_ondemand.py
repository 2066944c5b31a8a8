"""
Processes on demand (Step 7, item 3): the pools start small, grow with
load up to their size, shrink back after max_idle; at rest at most 10
processes; mail sent after the pools shrank is delivered, and a load
while processes retire loses nothing.
"""
import os
import smtplib
import socket
import threading
import time

import pytest

from conftest import IS_ROOT, create_users, remove_users, wait_for
from test_spool import sendmail

IDLE = "max_idle = 2s\ncleanup_processes = 6\nsubmit_processes = 4\n"


@pytest.fixture(scope="module")
def od_users():
    """Recipients of our own: the session's users may be removed by a
    parallel run."""
    names = ["pstod1", "pstod2", "pstod3"]
    if not IS_ROOT:
        import pwd
        me = pwd.getpwuid(os.getuid()).pw_name
        yield {"alice": me, "bob": me, "carol": me}
        return
    made = create_users(names)
    yield dict(zip(("alice", "bob", "carol"), names))
    remove_users(made)


def pool(p):
    """{service: [pid, ...]} of master's own view (pid/status)."""
    out = {}
    try:
        with open(os.path.join(p.queue, "pid", "status")) as f:
            for line in f:
                w = line.split()
                if len(w) == 4 and w[0] == "proc":
                    out.setdefault(w[1], []).append(int(w[2]))
    except FileNotFoundError:
        pass
    return out


def n(p, service):
    return len(pool(p).get(service, []))


def at_rest(p):
    """Every pool back at its resting size."""
    v = pool(p)
    return (len(v.get("cleanup", [])) == 1 and
            len(v.get("submit", [])) == 0 and
            len(v.get("local", [])) == 1 and
            len(v.get("remote", [])) == 1 and
            len(p.children("cleanup")) == 1)    # no pickup at rest


def send(p, rcpt, subject, count=1):
    s = smtplib.SMTP("127.0.0.1", p.port, timeout=30)
    for i in range(count):
        s.sendmail("load@client.test", [rcpt],
                   ("Subject: %s %d\r\n\r\nbody\r\n" % (subject, i)).encode())
    s.quit()


def burst(p, rcpt, subject, sessions, per):
    errs = []

    def one(k):
        try:
            send(p, rcpt, "%s-%d" % (subject, k), per)
        except Exception as e:      # reported by the assert below
            errs.append(repr(e))
    ts = [threading.Thread(target=one, args=(k,)) for k in range(sessions)]
    for t in ts:
        t.start()
    return ts, errs


def test_pools_start_small(make_postern):
    p = make_postern(extra=IDLE)
    wait_for(lambda: at_rest(p), what="resting pools")
    v = pool(p)
    assert "showq" not in v and "submit" not in v, v
    assert len(v["qmgr"]) == 1 and len(v["anvil"]) == 1, v


def test_pools_grow_with_load_and_shrink_when_idle(make_postern, od_users):
    p = make_postern(extra=IDLE)
    rcpt = "%s@localhost" % od_users["alice"]
    wait_for(lambda: at_rest(p), what="resting pools")
    # held local submissions: each takes a submit process of its own
    held = []
    for _ in range(3):
        c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        c.connect(os.path.join(p.queue, "public", "cleanup"))
        held.append(c)
    peak = {"cleanup": 0, "submit": 0, "comm": 0}
    ts, errs = burst(p, rcpt, "grow", 20, 5)
    try:
        t0 = time.time()
        while time.time() - t0 < 60 and (any(t.is_alive() for t in ts) or
                                         peak["submit"] < 3):
            for k in ("cleanup", "submit"):
                peak[k] = max(peak[k], n(p, k))
            peak["comm"] = max(peak["comm"], len(p.children("cleanup")))
            time.sleep(0.05)
        for t in ts:
            t.join(60)
        assert not errs, errs
        assert peak["submit"] == 3, peak
        # cleanup and the submit pool: more than one cleanup
        assert peak["comm"] > 2, peak
        assert n(p, "submit") <= 4
    finally:
        for c in held:
            c.close()
    wait_for(lambda: p.mbox_count(od_users["alice"]) == 100, 60,
             what="100 messages delivered")
    # max_idle = 2 s: back to the resting size, each retirement quiet
    wait_for(lambda: at_rest(p), 30, what="pools shrunk after max_idle")
    log = p.log()
    assert "retiring" in log
    assert "died" not in log, [l for l in log.splitlines() if "died" in l]


def test_at_rest_and_first_message_after_shrink(make_postern, od_users):
    p = make_postern(extra=IDLE)
    ts, errs = burst(p, "%s@localhost" % od_users["bob"], "warm", 10, 2)
    for t in ts:
        t.join(60)
    assert not errs, errs
    wait_for(lambda: at_rest(p), 30, what="pools shrunk")
    kids = p.children()
    assert len(kids) <= 10, kids
    # a pool at rest with no process (submit) starts one for sendmail
    r = sendmail(p, ["-i", od_users["alice"]], b"Subject: cold\n\nsubmit\n")
    assert r.returncode == 0, r.stderr
    p.wait_mbox(od_users["alice"], b"submit")
    # and smtpd -> cleanup -> qmgr -> local after the quiet period
    send(p, "%s@localhost" % od_users["alice"], "after-quiet")
    p.wait_mbox(od_users["alice"], b"after-quiet")


def test_load_while_processes_retire_loses_nothing(make_postern, od_users):
    p = make_postern(extra="max_idle = 1s\ncleanup_processes = 6\n"
                     "local_processes = 4\n")
    rcpt = "%s@localhost" % od_users["carol"]
    # waves with pauses just past max_idle: processes retire between
    # (and during) them while the next wave arrives
    for w in range(10):
        ts, errs = burst(p, rcpt, "wave%d" % w, 5, 4)
        for t in ts:
            t.join(60)
        assert not errs, errs
        time.sleep(1.2 + 0.2 * (w % 3))
    wait_for(lambda: p.mbox_count(od_users["carol"]) >= 200, 90,
             what="200 messages delivered")
    assert p.mbox_count(od_users["carol"]) == 200
    wait_for(p.queue_empty, 30, what="queue empty")
    assert "retiring" in p.log()


def test_bad_max_idle_names_file_and_line(make_postern):
    p = make_postern(start=False)
    for bad in ("0", "5y", "2d"):
        with open(p.conf) as f:
            lines = [l for l in f if not l.startswith("max_idle")]
        lines.insert(3, "max_idle = %s\n" % bad)
        with open(p.conf, "w") as f:
            f.writelines(lines)
        r = p.cli("check", check=False)
        assert r.returncode != 0, bad
        assert "%s:4:" % p.conf in r.stderr and "max_idle" in r.stderr, \
            r.stderr
