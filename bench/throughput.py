#!/usr/bin/python3
"""Throughput of the core path: N small messages from S parallel SMTP
sessions into a real postern (own temp instance, as in the integration
tests), delivered either to one local mbox or relayed to Postfix's
smtp-sink. Prints accept rate (all 250s received) and end-to-end rate
(queue empty). A benchmark, never a test: it only reports numbers.

    bench/throughput.py [--messages 2000] [--sessions 10] [--to mbox|sink]
"""

import argparse
import os
import shutil
import smtplib
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests",
                                "integration"))
from conftest import Postern, wait_for, free_port  # noqa: E402

SINK = next((p for p in ("/usr/sbin/smtp-sink",
                         "/usr/lib/postfix/sbin/smtp-sink") if os.path.exists(p)),
            None)


def send_all(port, rcpt, n, sessions):
    per = [n // sessions + (1 if i < n % sessions else 0) for i in range(sessions)]
    errors = []

    def worker(k, count):
        try:
            s = smtplib.SMTP("127.0.0.1", port, timeout=60)
            s.ehlo("bench.test")
            for i in range(count):
                s.sendmail("bench@bench.test", [rcpt],
                           "Subject: bench %d.%d\r\n\r\n%s\r\n" %
                           (k, i, "x" * 200))
            s.quit()
        except Exception as e:          # reported, not hidden
            errors.append(repr(e))
    threads = [threading.Thread(target=worker, args=(k, c))
               for k, c in enumerate(per)]
    t0 = time.time()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.time() - t0, errors


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=2000)
    ap.add_argument("--sessions", type=int, default=10)
    ap.add_argument("--to", choices=("mbox", "sink"), default="mbox")
    a = ap.parse_args()
    me = __import__("pwd").getpwuid(os.getuid()).pw_name
    users = {"alice": me, "bob": me, "carol": me, "real": False}
    base = tempfile.mkdtemp(prefix="postern-bench-", dir="/tmp")
    p = Postern(base, users, extra="log_level = info\n", small_pools=False)
    sink = None
    try:
        if a.to == "sink":
            if SINK is None:
                sys.exit("smtp-sink not found (make deps installs postfix)")
            sink = subprocess.Popen([SINK, "-u", "nobody" if os.geteuid() == 0
                                     else me, "127.0.0.2:%d" % p.smarthost_port,
                                     "256"])
            rcpt = "sink@remote.example"
        else:
            rcpt = "%s@localhost" % me
        p.start()
        # Warm-up round (page cache, process pools), not measured.
        send_all(p.port, rcpt, min(100, a.messages), a.sessions)
        wait_for(p.queue_empty, timeout=600, interval=0.02, what="drain")
        t0 = time.time()
        accept_s, errors = send_all(p.port, rcpt, a.messages, a.sessions)
        wait_for(p.queue_empty, timeout=600, interval=0.02, what="drain")
        e2e = time.time() - t0
        print("postern: %d messages, %d sessions, to %s" %
              (a.messages, a.sessions, a.to))
        print("  accepted in %.2f s = %.0f msg/s" %
              (accept_s, a.messages / accept_s))
        print("  delivered (queue empty) in %.2f s = %.0f msg/s" %
              (e2e, a.messages / e2e))
        if errors:
            print("  client errors: %d (first: %s)" % (len(errors), errors[0]))
    finally:
        p.stop()
        if sink:
            sink.terminate()
            sink.wait()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
