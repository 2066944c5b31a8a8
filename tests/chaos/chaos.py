#!/usr/bin/python3
"""`make chaos`: relay many messages through a real postern (a temporary
instance, as in the integration tests) to an aiosmtpd peer that records
Message-IDs, while random workers and the master are killed with -9 (the
master restarted by `postern start`, as an admin or systemd would). Then
the queue drains and every message that got 250 must have reached the
peer. Prints accepted, delivered, lost, duplicated; exits 1 if any was
lost. Every loop is bounded in count and time; processes stopped by PID.

    tests/chaos/chaos.py [--messages 5000] [--sessions 8] [--kills 40]
"""

import argparse
import os
import random
import re
import shutil
import signal
import smtplib
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "integration"))
from conftest import Postern, wait_for  # noqa: E402

MSGID = re.compile(rb"^Message-ID: <([^>]*)>", re.M | re.I)
# the master: the middle kill and some of the others; the rest hit a
# random worker (smtpd, cleanup, qmgr, remote, anvil, ...)
MASTER_SHARE = 0.15


class Peer:
    """aiosmtpd on 127.0.0.2 counting each Message-ID it accepts."""

    def __init__(self, port):
        from aiosmtpd.controller import Controller
        self.seen = {}
        self.lock = threading.Lock()
        peer = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                m = MSGID.search(envelope.original_content or b"")
                if m:
                    with peer.lock:
                        k = m.group(1).decode("ascii", "replace")
                        peer.seen[k] = peer.seen.get(k, 0) + 1
                return "250 2.0.0 Ok: recorded"

        self.controller = Controller(Handler(), hostname="127.0.0.2",
                                     port=port, decode_data=False)
        self.controller.start()

    def stop(self):
        self.controller.stop()


class Chaos:
    def __init__(self, base, messages, sessions, kills, duration):
        users = {"alice": "root", "bob": "root", "carol": "root",
                 "real": False}
        self.p = Postern(base, users)
        self.set_backoff()
        self.peer = Peer(self.p.smarthost_port)
        self.messages = messages
        self.sessions = sessions
        self.kills = kills
        self.duration = duration
        self.accepted = set()
        self.refused = 0
        self.killed = {"master": 0, "worker": 0}
        self.restarts = 0
        self.lock = threading.Lock()
        self.sending = True

    def set_backoff(self):
        """Short retries: a delivery cut by a kill is retried in seconds,
        so that the drain is bounded (the conftest's are 60s/120s)."""
        with open(self.p.conf) as f:
            text = f.read()
        text = text.replace("min_backoff = 60s", "min_backoff = 1s")
        text = text.replace("max_backoff = 120s", "max_backoff = 4s")
        with open(self.p.conf, "w") as f:
            f.write(text)

    # ---- clients ----------------------------------------------------
    def client(self, k, ids, deadline):
        s = None
        for n in ids:
            mid = "chaos-%d@chaos.test" % n
            msg = ("From: c%d@chaos.test\r\nTo: far@remote.example\r\n"
                   "Message-ID: <%s>\r\nSubject: chaos %d\r\n\r\n%s\r\n"
                   % (k, mid, n, "chaos body line\r\n" * 20))
            for attempt in range(20):
                if time.time() > deadline:
                    break
                try:
                    if s is None:
                        s = smtplib.SMTP("127.0.0.1", self.p.port,
                                         timeout=30)
                        s.ehlo("chaos.test")
                    s.sendmail("c%d@chaos.test" % k, ["far@remote.example"],
                               msg)
                    with self.lock:
                        self.accepted.add(mid)
                    break
                except (OSError, smtplib.SMTPException):
                    if s is not None:
                        try:
                            s.close()
                        except OSError:
                            pass
                    s = None
                    time.sleep(0.2 + 0.1 * attempt)
            else:
                with self.lock:
                    self.refused += 1
        if s is not None:
            try:
                s.quit()
            except (OSError, smtplib.SMTPException):
                pass

    # ---- the killer ---------------------------------------------------
    def restart(self):
        """The master is gone: as systemd would, clear what is left of
        the instance and start it again (retried: the ports may linger)."""
        try:
            wait_for(lambda: not self.p.our_pids(), timeout=5,
                     what="workers following master")
        except AssertionError:
            self.p.kill_all(signal.SIGKILL)
        for _ in range(20):
            r = self.p.cli("start", check=False)
            if r.returncode == 0:
                self.restarts += 1
                try:
                    wait_for(lambda: self.p.port_open(self.p.port),
                             timeout=20, what="smtp port")
                    return
                except AssertionError:
                    pass
            time.sleep(0.5)
        raise RuntimeError("postern start keeps failing: %s %s"
                           % (r.stdout, r.stderr))

    def kill_one(self, rnd, master=False):
        mp = self.p.master_pid()
        if mp and (master or rnd.random() < MASTER_SHARE):
            victim, what = mp, "master"
        else:
            kids = self.p.children()
            if not kids:
                return
            victim, comm, _ = rnd.choice(kids)
            what = "worker"
        try:
            os.kill(victim, signal.SIGKILL)
        except ProcessLookupError:
            return
        self.killed[what] += 1
        if what == "master":
            self.restart()

    def killer(self, rnd):
        """Kill number i when about (i + 1) / (kills + 1) of the messages
        are accepted, so that the kills spread over the whole sending
        whatever the machine's speed (and some land mid-transaction); those
        not made when sending ends are made during the drain. The middle
        one is the master's."""
        done = 0
        while done < self.kills:
            with self.lock:
                n = len(self.accepted) + self.refused
            # a fast machine may finish sending first: the kills left
            # then land while the queue drains
            if (not self.sending or
                    n >= (done + 1) * self.messages / (self.kills + 1)):
                time.sleep(rnd.uniform(0, 0.3))
                self.kill_one(rnd, master=done == self.kills // 2)
                done += 1
            else:
                time.sleep(0.05)

    # ---- the run --------------------------------------------------------
    def run(self, seed):
        rnd = random.Random(seed)
        self.p.start()
        t0 = time.time()
        deadline = t0 + self.duration
        ids = list(range(self.messages))
        per = [ids[i::self.sessions] for i in range(self.sessions)]
        threads = [threading.Thread(target=self.client,
                                    args=(k, per[k], deadline))
                   for k in range(self.sessions)]
        for t in threads:
            t.start()
        kt = threading.Thread(target=self.killer, args=(rnd,))
        kt.start()
        for t in threads:
            t.join()
        self.sending = False
        kt.join()
        t_sent = time.time()
        if not self.p.master_pid() or not self.p.port_open(self.p.port):
            self.restart()
        return t0, t_sent

    def drain(self, timeout):
        def done():
            with self.peer.lock:
                seen = set(self.peer.seen)
            return self.accepted <= seen and self.p.queue_empty()
        try:
            wait_for(done, timeout=timeout, interval=0.5, what="drain")
            return True
        except AssertionError:
            return False

    def report(self):
        with self.peer.lock:
            seen = dict(self.peer.seen)
        lost = sorted(self.accepted - set(seen))
        r = {
            "messages": self.messages,
            "accepted": len(self.accepted),
            "refused": self.refused,
            "delivered": len(set(seen) & self.accepted),
            "delivered_unacknowledged": len(set(seen) - self.accepted),
            "lost": len(lost),
            "duplicated": sum(c - 1 for c in seen.values() if c > 1),
            "killed_master": self.killed["master"],
            "killed_workers": self.killed["worker"],
            "restarts": self.restarts,
            "lost_ids": lost[:20],
        }
        return r

    def stop(self):
        try:
            self.p.stop()
        finally:
            self.peer.stop()


def chaos(messages=5000, sessions=8, kills=40, duration=600, drain=300,
          seed=None):
    """One run; returns the report dict (see Chaos.report)."""
    base = tempfile.mkdtemp(prefix="postern-chaos-", dir="/tmp")
    seed = seed if seed is not None else int(time.time())
    c = Chaos(base, messages, sessions, kills, duration)
    try:
        t0, t_sent = c.run(seed)
        drained = c.drain(drain)
        r = c.report()
        r.update(seed=seed, drained=drained,
                 send_seconds=round(t_sent - t0, 1),
                 total_seconds=round(time.time() - t0, 1))
        if not drained or r["lost"]:
            r["log_tail"] = c.p.log()[-3000:]
        return r
    finally:
        c.stop()
        if os.environ.get("POSTERN_KEEP") is None:
            shutil.rmtree(base, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--messages", type=int, default=5000)
    ap.add_argument("--sessions", type=int, default=8)
    ap.add_argument("--kills", type=int, default=40)
    ap.add_argument("--duration", type=int, default=600,
                    help="seconds of sending at most")
    ap.add_argument("--drain", type=int, default=300,
                    help="seconds to wait for the queue to drain")
    ap.add_argument("--seed", type=int)
    a = ap.parse_args()
    r = chaos(a.messages, a.sessions, a.kills, a.duration, a.drain, a.seed)
    tail = r.pop("log_tail", None)
    for k in ("messages", "accepted", "refused", "delivered",
              "delivered_unacknowledged", "lost", "duplicated",
              "killed_master", "killed_workers", "restarts", "drained",
              "send_seconds", "total_seconds", "seed"):
        print("%-26s %s" % (k, r[k]))
    if r["lost_ids"]:
        print("lost (first 20):", " ".join(r["lost_ids"]))
    if tail:
        print("--- log tail ---\n" + tail)
    sys.exit(1 if r["lost"] or not r["drained"] else 0)


if __name__ == "__main__":
    main()
