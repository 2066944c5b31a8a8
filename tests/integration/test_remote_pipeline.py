"""The remote agent's writes (remote/dialogue.c): the end of data goes
in the same write as the body's last piece, whatever the body's size
relative to the 64 KiB pieces it is read in, and the bytes arrive as
sent (dot-stuffing across a piece boundary, a last line without its
line end)."""

import smtplib
import socket
import threading

import pytest

from conftest import wait_for


def smtp(p):
    return smtplib.SMTP("127.0.0.1", p.port, timeout=30)


def test_body_sizes_around_the_piece_boundary(postern, peer_factory):
    """Bodies of 60,000 to 70,000 octets (the queue file's content
    crosses the 64 KiB read size at a different line each time), every
    line starting with a dot: the peer gets each one exactly, once."""
    peer = peer_factory(postern.smarthost_port)
    sent = {}
    s = smtp(postern)
    for k, size in enumerate(range(60000, 70001, 997)):
        line = ".%05d-%s\r\n" % (k, "x" * 20)
        body = line * (size // len(line)) + "." + "y" * (size % len(line))
        subject = "size %d" % size
        s.sendmail("a@client.test", ["bob@remote.example"],
                   "Subject: %s\r\n\r\n%s" % (subject, body))
        sent[subject] = body
    s.quit()
    wait_for(lambda: len(peer.messages) >= len(sent), timeout=60,
             what="peer got every message")
    assert len(peer.messages) == len(sent)
    for _, rcpts, data in peer.messages:
        assert rcpts == ["bob@remote.example"]
        head, body = data.split(b"\r\n\r\n", 1)
        subject = [ln for ln in head.split(b"\r\n")
                   if ln.startswith(b"Subject: ")][0][9:].decode()
        # the last line had no line end: it gets one on the way
        assert body == (sent.pop(subject) + "\r\n").encode(), subject
    assert not sent
    wait_for(postern.queue_empty, what="queue empty")


class HoldingPeer:
    """A raw SMTP server on 127.0.0.2 that offers PIPELINING and answers
    nothing of a transaction until DATA has come: a client that waited for
    the MAIL or RCPT replies before it sent DATA would wait forever. It
    records the commands it got; rcpt_code answers every RCPT, and
    data_code DATA (a 354 after refused recipients is a broken server's,
    which RFC 2920 3.1 tells the client to end with a lone dot)."""

    def __init__(self, port, rcpt_code=250, data_code=354):
        self.port = port
        self.rcpt_code, self.data_code = rcpt_code, data_code
        self.commands, self.bodies = [], []
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.2", port))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.done = False
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while not self.done:
            try:
                c, _ = self.sock.accept()
            except OSError:
                continue
            threading.Thread(target=self.session, args=(c,),
                             daemon=True).start()

    def session(self, c):
        c.settimeout(30)
        f = c.makefile("rb")
        c.sendall(b"220 holding.example ESMTP\r\n")
        pending = []
        try:
            while True:
                line = f.readline(2000)
                if not line:
                    return
                cmd = line.rstrip(b"\r\n").decode()
                self.commands.append(cmd)
                verb = cmd[:4].upper()
                if verb == "EHLO":
                    c.sendall(b"250-holding.example\r\n250 PIPELINING\r\n")
                elif verb in ("RSET", "NOOP"):
                    c.sendall(b"250 2.0.0 Ok\r\n")
                elif verb == "QUIT":
                    c.sendall(b"221 2.0.0 Bye\r\n")
                    return
                elif verb == "MAIL":
                    pending.append(b"250 2.1.0 Ok\r\n")
                elif verb == "RCPT":
                    pending.append(b"%d %s\r\n" % (
                        self.rcpt_code, b"2.1.5 Ok" if self.rcpt_code == 250
                        else b"5.1.1 No such user here"))
                elif verb == "DATA":
                    pending.append(b"%d %s\r\n" % (
                        self.data_code, b"go ahead" if self.data_code == 354
                        else b"5.5.1 No valid recipients"))
                    c.sendall(b"".join(pending))
                    pending = []
                    if self.data_code == 354:
                        self.bodies.append(self.body(f))
                        c.sendall(b"250 2.0.0 Ok: held\r\n")
                else:
                    c.sendall(b"502 5.5.2 What\r\n")
        except OSError:
            return
        finally:
            c.close()

    @staticmethod
    def body(f):
        lines = []
        while True:
            line = f.readline(2000)
            if line in (b".\r\n", b""):
                return b"".join(lines)
            lines.append(line)

    def stop(self):
        self.done = True
        self.thread.join(2)
        self.sock.close()


@pytest.fixture
def holding(postern):
    made = []

    def make(**kw):
        made.append(HoldingPeer(postern.smarthost_port, **kw))
        return made[-1]
    yield make
    for h in made:
        h.stop()


def test_data_goes_with_the_envelope(postern, holding):
    """MAIL, RCPT and DATA go in one group to a server that offers
    PIPELINING: one that answers nothing before DATA still gets the
    message, and a second message reuses the session."""
    peer = holding()
    s = smtp(postern)
    for k in range(2):
        s.sendmail("a@client.test", ["bob@remote.example"],
                   "Subject: held %d\r\n\r\nbody %d\r\n" % (k, k))
        wait_for(lambda: len(peer.bodies) == k + 1, what="message %d" % k)
        wait_for(postern.queue_empty, what="queue empty")
    s.quit()
    assert b"body 0\r\n" in peer.bodies[0]
    assert b"body 1\r\n" in peer.bodies[1]
    verbs = [c.split()[0].upper() for c in peer.commands]
    assert verbs.count("EHLO") == 1, peer.commands
    assert verbs.count("DATA") == 2, peer.commands


def test_354_after_every_rcpt_refused(postern, holding, users):
    """A broken server that answers the pipelined DATA with 354 although
    it refused the recipient gets an empty message ended at once; the
    recipient bounces with the RCPT reply, and nothing is delivered."""
    peer = holding(rcpt_code=550, data_code=354)
    s = smtp(postern)
    s.sendmail("pstalice@localhost", ["nobody@remote.example"],
               "Subject: refused\r\n\r\nnot for you\r\n")
    s.quit()
    postern.wait_mbox("pstalice", "No such user here")
    assert peer.bodies == [b""]
    wait_for(postern.queue_empty, what="queue empty")
    assert "status=bounced" in postern.log()
