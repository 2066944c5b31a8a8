"""qmgr's scheduling against real peers: the retry schedule (never sooner
than min_backoff, never later than max_backoff) and the per-destination
concurrency window (slow start, back-off on connection failures, dead
destinations) with live, slow, closed and silent peers on 127.0.0.2."""

import os
import re
import smtplib
import time

from conftest import wait_for


def send(p, rcpts, n=1, subject="sched"):
    """n messages over one session, each to rcpts."""
    s = smtplib.SMTP("127.0.0.1", p.port, timeout=30)
    for i in range(n):
        s.sendmail("sender@client.test", rcpts,
                   "Subject: %s %d\r\n\r\nbody %d\r\n" % (subject, i, i))
    s.quit()


def test_first_retry_not_before_min_backoff(make_postern):
    """The smarthost is down: each deferral's next try is between
    min_backoff (60 s) and max_backoff (120 s), in the log and in the
    file's mtime (qmgr's next try), never min_backoff/2 as jitter below
    the configured time once gave."""
    p = make_postern()
    t0 = time.time()
    send(p, ["r@remote.example"], n=12)
    ids = wait_for(lambda: len(p.queue_files("deferred")) == 12 and
                   p.queue_files("deferred"), timeout=60, what="12 deferred")
    t1 = time.time()
    waits = [int(w) for w in re.findall(r"next try in (-?\d+) s", p.log())]
    assert len(waits) == 12, p.log()
    assert all(60 <= w <= 120 for w in waits), waits
    for qid in ids:
        mt = os.stat(os.path.join(p.queue, "deferred", qid)).st_mtime
        # next_try is whole seconds: the deferral was at int(t0) or later
        assert int(t0) + 60 <= mt <= t1 + 120, (qid, mt - t0)
    out = p.cli("queue").stdout
    assert out.count("Connection refused") == 12, out
