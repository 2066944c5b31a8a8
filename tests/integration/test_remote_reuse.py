"""SMTP connection reuse in the remote agent (SPEC 10: one connection
reused for several messages to the same destination). Peers are aiosmtpd
on 127.0.0.2 that count the TCP connections they accept and the RSETs
they get, so a test can see how many sessions carried the messages
(aiosmtpd's Controller makes one connection of its own at start, so
"sessions" counts the connections that sent MAIL)."""

import smtplib
import ssl
import threading
import time

import pytest

from conftest import free_port, wait_for
from test_remote_tls import pki  # noqa: F401  (fixture)


class CountingPeer:
    """aiosmtpd on 127.0.0.2:port that counts connections (opened and
    closed), RSETs and messages; kill() drops every connection at once,
    as a restarted or crashed server does. rset_reply overrides the
    answer to RSET."""

    def __init__(self, port, tls_pki=None, rset_reply=None):
        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import SMTP
        self.port = port
        self.messages = []      # (rcpts, content, tls)
        self.opened = 0
        self.closed = 0
        self.rsets = 0
        self.quits = 0
        self.sessions = set()   # id() of the SMTP objects that got MAIL
        self.transports = []
        self.lock = threading.Lock()
        peer = self

        class Handler:
            async def handle_MAIL(self, server, session, envelope, address,
                                  mail_options):
                peer.sessions.add(id(server))
                envelope.mail_from = address
                envelope.mail_options.extend(mail_options)
                return "250 2.1.0 Ok"

            async def handle_DATA(self, server, session, envelope):
                peer.messages.append((list(envelope.rcpt_tos),
                                      envelope.original_content,
                                      session.ssl is not None))
                return "250 2.0.0 Ok: queued at counting peer"

            async def handle_QUIT(self, server, session, envelope):
                peer.quits += 1
                return "221 Bye"

            async def handle_RSET(self, server, session, envelope):
                peer.rsets += 1
                return rset_reply or "250 2.0.0 Ok"

        class CountingSMTP(SMTP):
            def connection_made(self, transport):
                with peer.lock:
                    peer.opened += 1
                    peer.transports.append(transport)
                super().connection_made(transport)

            def connection_lost(self, error):
                with peer.lock:
                    peer.closed += 1
                super().connection_lost(error)

        class CountingController(Controller):
            def factory(self):
                return CountingSMTP(self.handler, **self.SMTP_kwargs)

        kw = {}
        if tls_pki is not None:
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ctx.load_cert_chain(tls_pki["cert"], tls_pki["key"])
            kw["tls_context"] = ctx
        self.controller = CountingController(
            Handler(), hostname="127.0.0.2", port=port, decode_data=False,
            server_hostname="peer.example", **kw)

    def start(self):
        self.controller.start()
        return self

    def kill(self):
        """Close every connection (no 421, no goodbye) and stop."""
        loop = self.controller.loop
        with self.lock:
            ts = list(self.transports)
        for t in ts:
            loop.call_soon_threadsafe(t.abort)
        time.sleep(0.3)
        self.controller.stop()


@pytest.fixture
def counting_peer():
    made = []

    def make(port, **kw):
        p = CountingPeer(port, **kw).start()
        made.append(p)
        return p
    yield make
    for p in made:
        try:
            p.controller.stop()
        except Exception:
            pass


def instance(make_postern, port, extra=""):
    return make_postern(extra="smarthost = [127.0.0.2]:%d\n%s" % (port, extra))


def send(p, n=1, tag="msg"):
    """n messages into postern, one SMTP session each."""
    for i in range(n):
        s = smtplib.SMTP("127.0.0.1", p.port, timeout=20)
        s.sendmail("sender@client.test", ["far%d@remote.example" % i],
                   "Subject: reuse %s %d\r\n\r\nbody %s %d\r\n" %
                   (tag, i, tag, i))
        s.quit()


def test_twenty_messages_few_connections(make_postern, counting_peer):
    port = free_port("127.0.0.2")
    peer = counting_peer(port)
    p = instance(make_postern, port, "remote_tls = none\n")
    for i in range(20):
        send(p, 1, tag="seq%d" % i)
        wait_for(lambda: len(peer.messages) == i + 1,
                 what="message %d at the peer" % i)
    wait_for(p.queue_empty, what="queue empty")
    assert len(peer.messages) == 20
    bodies = b"".join(m[1] for m in peer.messages)
    for i in range(20):
        assert b"body seq%d 0" % i in bodies
    n = len(peer.sessions)
    assert 1 <= n <= 4, "%d connections for 20 messages" % n
    log = p.log()
    assert log.count("status=sent") == 20
    assert "status=deferred" not in log
    assert "reused connection to 127.0.0.2[127.0.0.2]:%d" % port in log
    assert ("relay=127.0.0.2[127.0.0.2]:%d, conn_use=2, delay=" % port) in log
    # idle sessions are QUIT within the idle limit (5 s), not left open
    wait_for(lambda: peer.closed == peer.opened, timeout=15,
             what="idle connections closed")
    assert peer.quits == n
    assert "closing idle connection to 127.0.0.2[127.0.0.2]" in p.log()


def test_stop_quits_cached_session(make_postern, counting_peer):
    port = free_port("127.0.0.2")
    peer = counting_peer(port)
    p = instance(make_postern, port, "remote_tls = none\n")
    send(p, 1, tag="one")
    wait_for(lambda: peer.messages, what="message at the peer")
    wait_for(p.queue_empty, what="queue empty")
    assert peer.quits == 0          # kept open for the next message
    p.stop()
    wait_for(lambda: peer.quits == 1, timeout=10, what="QUIT on stop")


def test_peer_restart_between_messages(make_postern, counting_peer):
    port = free_port("127.0.0.2")
    peer = counting_peer(port)
    p = instance(make_postern, port, "remote_tls = none\n")
    send(p, 1, tag="first")
    wait_for(lambda: peer.messages, what="first message")
    peer.kill()
    peer2 = counting_peer(port)
    send(p, 1, tag="second")
    wait_for(lambda: peer2.messages, timeout=10, what="second message")
    assert b"body second 0" in peer2.messages[0][1]
    wait_for(p.queue_empty, what="queue empty")
    log = p.log()
    assert "status=deferred" not in log, log
    assert log.count("status=sent") == 2


def test_rset_refused_connects_afresh(make_postern, counting_peer):
    port = free_port("127.0.0.2")
    peer = counting_peer(port, rset_reply="502 5.5.1 RSET not today")
    p = instance(make_postern, port,
                 "remote_tls = none\nremote_processes = 1\n")
    for i in range(3):
        send(p, 1, tag="r%d" % i)
        wait_for(lambda: len(peer.messages) == i + 1,
                 what="message %d" % i)
    wait_for(p.queue_empty, what="queue empty")
    log = p.log()
    assert "status=deferred" not in log
    assert log.count("status=sent") == 3
    assert peer.rsets >= 2          # each reuse attempt was tried...
    assert len(peer.sessions) == 3  # ...and refused: a fresh connection
    assert "RSET refused" in log


def test_tls_session_reused(make_postern, counting_peer, pki):  # noqa: F811
    port = free_port("127.0.0.2")
    peer = counting_peer(port, tls_pki=pki)
    p = instance(make_postern, port)        # remote_tls = may
    for i in range(6):
        send(p, 1, tag="tls%d" % i)
        wait_for(lambda: len(peer.messages) == i + 1,
                 what="message %d" % i)
    wait_for(p.queue_empty, what="queue empty")
    assert all(m[2] for m in peer.messages), "a message came without TLS"
    n = len(peer.sessions)
    assert n < 6, "%d connections for 6 messages" % n
    log = p.log()
    assert log.count("TLS connection established to") == n
    assert "reused connection to 127.0.0.2[127.0.0.2]:%d" % port in log
    assert "status=deferred" not in log
