"""qmgr's scheduling against real peers: the retry schedule (never sooner
than min_backoff, never later than max_backoff) and the per-destination
concurrency window (slow start, back-off on connection failures, dead
destinations) with live, slow, closed and silent peers on 127.0.0.2."""

import os
import re
import smtplib
import socket
import threading
import time

from conftest import free_port, wait_for
from dnsserver import dns  # noqa: F401  (fixture)


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


# ------------------------------------------------ per-destination windows

class RawPeer:
    """A TCP server on host:port that either holds every connection open
    without a word (a peer that accepts and never answers) or greets with
    `greeting` and closes. Counts connections at once; close() drops them
    all (the peer goes away)."""

    def __init__(self, host, port, greeting=None):
        self.greeting = greeting
        self.conns = []
        self.accepted = 0
        self.max_open = 0
        self.lock = threading.Lock()
        self.ls = socket.socket()
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.ls.bind((host, port))
        self.ls.listen(64)
        self.ls.settimeout(0.2)
        self.stopping = False
        self.th = threading.Thread(target=self.run, daemon=True)
        self.th.start()

    def run(self):
        while not self.stopping:
            try:
                c, _ = self.ls.accept()
            except socket.timeout:
                with self.lock:     # forget the ones the client closed
                    self.conns = [s for s in self.conns if not closed(s)]
                continue
            except OSError:
                return
            with self.lock:
                self.accepted += 1
                if self.greeting is not None:
                    try:
                        c.sendall(self.greeting.encode())
                    except OSError:
                        pass
                    c.close()
                    continue
                self.conns = [s for s in self.conns if not closed(s)]
                self.conns.append(c)
                self.max_open = max(self.max_open, len(self.conns))

    def open_now(self):
        with self.lock:
            self.conns = [s for s in self.conns if not closed(s)]
            return len(self.conns)

    def close(self):
        self.stopping = True
        self.th.join(5)
        self.ls.close()
        with self.lock:
            for c in self.conns:
                c.close()
            self.conns = []


def closed(s):
    """Has the client closed it (EOF waiting)?"""
    try:
        s.setblocking(False)
        return s.recv(1, socket.MSG_PEEK) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


def ports_free(port, hosts):
    for h in hosts:
        s = socket.socket()
        try:
            s.bind((h, port))
        except OSError:
            return False
        finally:
            s.close()
    return True


def common_port():
    """One port free on 127.0.0.2, .3 and .4 (remote_port is global)."""
    for _ in range(50):
        port = free_port("127.0.0.2")
        if ports_free(port, ("127.0.0.3", "127.0.0.4")):
            return port
    raise AssertionError("no common free port")


def send_many(p, rcpt, n, subject):
    s = smtplib.SMTP("127.0.0.1", p.port, timeout=60)
    for i in range(n):
        s.sendmail("sender@client.test", [rcpt],
                   "Subject: %s %d\r\n\r\n%s %d\r\n" % (subject, i, subject,
                                                       i))
    s.quit()


def deferred_and_dead(p, rcpt, n, port, cohort, why):
    """Send n messages to rcpt (routed to the smarthost [127.0.0.2]:port);
    all end in deferred/ and the next hop was declared dead after a
    cohort of failures matching the regex why. Returns the log."""
    send_many(p, rcpt, n, "dead")
    wait_for(lambda: len(p.queue_files("deferred")) == n, timeout=30,
             what="%d deferred" % n)
    log = p.log()
    assert re.search(r"remote destination \[127\.0\.0\.2\]:%d is dead after "
                     r"%d connection failure\(s\) in a row; .*%s"
                     % (port, cohort, why), log), log[-2000:]
    return log


def test_dead_destination_never_delays_the_others(make_postern,
                                                   peer_factory):
    """Three next hops under load, 200 messages each: a live aiosmtpd
    ([127.0.0.2]), a closed port ([127.0.0.3]) and a peer that accepts
    and never answers ([127.0.0.4]). The live one's mail all arrives
    promptly; the closed one is declared dead after one cohort of
    refused connections and its mail waits in deferred/ with the reason
    in mailq, untried; the silent one never holds more than its initial
    window of remote processes (2 of 6)."""
    port = common_port()
    live = peer_factory(port)
    hang = RawPeer("127.0.0.4", port)
    try:
        p = make_postern(extra="smarthost =\nremote_port = %d\n"
                         "remote_processes = 6\n"
                         "remote_initial_concurrency = 2\n" % port)
        t0 = time.time()
        th = [threading.Thread(target=send_many, args=(p, r, 200, s))
              for r, s in (("live@[127.0.0.2]", "live"),
                           ("dead@[127.0.0.3]", "dead"),
                           ("hang@[127.0.0.4]", "hang"))]
        for t in th:
            t.start()
        for t in th:
            t.join(120)
        wait_for(lambda: len(live.messages) >= 200, timeout=60,
                 interval=0.2, what="200 messages at the live peer")
        took = time.time() - t0
        assert len(live.messages) == 200
        # the closed port: dead, its mail deferred untried, with why
        wait_for(lambda: len(p.queue_files("deferred")) >= 200, timeout=30,
                 what="the dead destination's mail in deferred/")
        log = p.log()
        assert re.search(r"remote destination \[127\.0\.0\.3\] is dead "
                         r"after 2 connection failure\(s\) in a row; .*"
                         r"Connection refused", log), log[-3000:]
        tries = len(re.findall(r"remote\[\d+\]: \w+: connect to 127\.0\.0\.3"
                               r"\[127\.0\.0\.3\]:%d" % port, log))
        assert tries <= 2 + 1, tries    # one cohort (+1 raced)
        out = p.cli("queue").stdout
        assert out.count("delivery temporarily suspended: connect to "
                         "127.0.0.3[127.0.0.3]:%d: Connection refused"
                         % port) >= 195, out[:2000]
        # the silent one holds its initial window, no more: at the peer
        # and in qmgr's own count
        assert hang.max_open <= 2, hang.max_open
        assert hang.open_now() == 2
        busy = [int(n) for n in re.findall(
            r"to remote \[127\.0\.0\.4\]: (\d+) running", log)]
        assert busy and max(busy) <= 2, busy
        live_busy = [int(n) for n in re.findall(
            r"to remote \[127\.0\.0\.2\]: (\d+) running", log)]
        assert max(live_busy) >= 3, live_busy     # it had the rest
        print("live: 200 messages in %.1f s; silent peer held %d "
              "connection(s)" % (took, hang.max_open))
        # it goes away: a cohort of lost sessions, then dead too
        hang.close()
        wait_for(lambda: len(p.queue_files("deferred")) >= 400, timeout=60,
                 what="the silent destination's mail deferred")
        assert "remote destination [127.0.0.4] is dead" in p.log()
        assert len(live.messages) == 200
    finally:
        hang.close()


class SlowPeer:
    """aiosmtpd on host:port that takes `delay` seconds over each message
    and records how many transactions (MAIL to the end of DATA) run at
    once, in order of their start."""

    def __init__(self, port, delay, host="127.0.0.2"):
        import asyncio
        from aiosmtpd.controller import Controller
        self.port = port
        self.now = 0            # transactions in progress
        self.at_start = []      # self.now just after each one began
        self.max_now = 0
        self.ended = 0
        self.messages = 0
        peer = self

        class Handler:
            async def handle_MAIL(self, server, session, envelope, address,
                                  mail_options):
                peer.now += 1   # one event loop: no lock needed
                peer.max_now = max(peer.max_now, peer.now)
                peer.at_start.append((peer.now, peer.ended))
                envelope.mail_from = address
                return "250 2.1.0 Ok"

            async def handle_DATA(self, server, session, envelope):
                await asyncio.sleep(delay)
                peer.messages += 1
                peer.now -= 1
                peer.ended += 1
                return "250 2.0.0 Ok: queued slowly"

        self.controller = Controller(Handler(), hostname=host,
                                     port=port, decode_data=False)
        self.controller.start()

    def stop(self):
        self.controller.stop()


def test_slow_start_window_grows_to_the_ceiling(make_postern):
    """A slow peer (0.4 s a message), 40 messages, 8 remote processes,
    remote_concurrency 4, remote_initial_concurrency 2: before any
    delivery has ended at most 2 run at once; the window then grows and
    the peer sees 4 at once, never more."""
    port = free_port("127.0.0.2")
    peer = SlowPeer(port, 0.4)
    try:
        p = make_postern(extra="smarthost = [127.0.0.2]:%d\n"
                         "remote_processes = 8\nremote_concurrency = 4\n"
                         "remote_initial_concurrency = 2\n" % port)
        send_many(p, "slow@remote.example", 40, "slow")
        wait_for(lambda: peer.messages == 40, timeout=60, interval=0.1,
                 what="40 messages at the slow peer")
        early = [n for n, ended in peer.at_start if ended == 0]
        print("at once, as each began: %s" % [n for n, _ in peer.at_start])
        assert early and max(early) <= 2, peer.at_start
        assert peer.max_now == 4, peer.at_start
        wait_for(p.queue_empty, what="queue empty")
        assert "window 4" in p.log()
    finally:
        peer.stop()


def test_recipient_refusals_are_not_connection_failures(make_postern,
                                                         peer_factory):
    """A peer that takes the session and refuses every recipient (450)
    leaves its destination alive: those are the recipients' answers,
    not the next hop's."""
    p = make_postern(extra="remote_initial_concurrency = 1\n")
    peer = peer_factory(p.smarthost_port)
    peer.rcpt_replies["busy@remote.example"] = "450 4.2.1 Mailbox busy"
    send_many(p, "busy@remote.example", 10, "busy")
    wait_for(lambda: len(p.queue_files("deferred")) == 10, timeout=30,
             what="10 deferred")
    log = p.log()
    assert log.count("Mailbox busy") >= 10
    assert "is dead" not in log and "connection failure" not in log
    # and mail to others still goes
    send_many(p, "other@remote.example", 1, "other")
    wait_for(lambda: peer.messages, what="delivery to the same peer")


def test_greeting_refused_dead_then_flush_revives(make_postern,
                                                  peer_factory):
    """A next hop that greets with 421 fails at the connection level:
    after one cohort (the initial window, 3) it is dead and the rest of
    its mail waits untried. Once a working server is there, `postern
    queue flush` tries it again with one delivery at a time; the first
    success brings it back to life and everything is delivered."""
    port = free_port("127.0.0.2")
    bad = RawPeer("127.0.0.2", port, greeting="421 4.3.2 Not now\r\n")
    try:
        p = make_postern(extra="smarthost = [127.0.0.2]:%d\n"
                         "remote_processes = 4\n"
                         "remote_initial_concurrency = 3\n" % port)
        deferred_and_dead(p, "later@remote.example", 30, port, 3,
                          r"refused to talk to me: 421 4\.3\.2 Not now")
        assert bad.accepted <= 3 + 1, bad.accepted
        out = p.cli("queue").stdout
        assert "delivery temporarily suspended: host 127.0.0.2[127.0.0.2] " \
            "refused to talk to me: 421 4.3.2 Not now" in out, out[:1500]
    finally:
        bad.close()
    good = peer_factory(port)
    p.cli("queue", "flush")
    wait_for(lambda: len(good.messages) == 30, timeout=60, interval=0.2,
             what="30 delivered after the flush")
    log = p.log()
    assert "remote destination [127.0.0.2]:%d: trying again, one delivery " \
        "at a time" % port in log
    assert "remote destination [127.0.0.2]:%d is alive again" % port in log
    wait_for(p.queue_empty, what="queue empty")


def test_slow_destination_leaves_a_process_to_the_others(make_postern):
    """3 remote processes, a slow next hop ([127.0.0.2], 1.5 s a message)
    whose window has room for all 3, and 30 messages for it; then mail
    for a fast one ([127.0.0.3]). The slow one never takes the last
    process while the other's mail waits: the fast mail arrives within
    seconds, long before the slow queue drains."""
    port = common_port()
    slow = SlowPeer(port, 1.5)
    fast = SlowPeer(port, 0, host="127.0.0.3")
    try:
        p = make_postern(extra="smarthost =\nremote_port = %d\n"
                         "remote_processes = 3\n"
                         "remote_initial_concurrency = 3\n" % port)
        send_many(p, "slow@[127.0.0.2]", 30, "slow")
        wait_for(lambda: slow.now == 3, timeout=20, what="3 slow at once")
        t0 = time.time()
        send_many(p, "fast@[127.0.0.3]", 5, "fast")
        wait_for(lambda: fast.messages == 5, timeout=20, interval=0.1,
                 what="the fast mail")
        took = time.time() - t0
        print("fast mail in %.1f s, slow: %d of 30 done" % (took,
                                                           slow.messages))
        assert slow.messages < 20, slow.messages
        assert took < 8, took
    finally:
        slow.stop()
        fast.stop()


def test_required_tls_not_offered_is_a_connection_failure(make_postern,
                                                           peer_factory):
    """remote_tls = encrypt and a next hop that offers no STARTTLS: a
    connection-level failure, so after one cohort (2) the next hop is
    dead and the rest of its mail waits untried, nothing sent in clear."""
    p = make_postern(extra="remote_tls = encrypt\n"
                     "remote_initial_concurrency = 2\n")
    peer = peer_factory(p.smarthost_port)
    log = deferred_and_dead(p, "tls@remote.example", 10, p.smarthost_port,
                            2, r"TLS is required, but was not offered")
    assert log.count("delivery temporarily suspended: TLS is required") >= 7
    assert peer.messages == []


def test_dns_failure_is_a_connection_failure(make_postern, dns):
    """A domain whose DNS fails (SERVFAIL) cannot be reached: after one
    cohort (2) it is dead and the rest of its mail waits untried; a
    domain that does resolve is delivered meanwhile."""
    port = common_port()
    live = SlowPeer(port, 0)
    try:
        p = make_postern(extra="dns_servers = %s\nsmarthost =\n"
                         "remote_port = %d\nremote_initial_concurrency = 2\n"
                         % (dns.spec, port))
        send_many(p, "x@fail.pt.example", 8, "dnsfail")
        wait_for(lambda: len(p.queue_files("deferred")) == 8, timeout=30,
                 what="8 deferred")
        log = p.log()
        assert re.search(r"remote destination fail\.pt\.example is dead "
                         r"after 2 connection failure\(s\) in a row", log), \
            log[-2000:]
        assert log.count("dsn=4.4.3") <= 3
        send_many(p, "x@good.pt.example", 1, "dnsgood")
        wait_for(lambda: live.messages == 1, what="delivery by MX")
    finally:
        live.stop()
