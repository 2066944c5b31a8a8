"""The remote agent's writes (remote/dialogue.c): the end of data goes
in the same write as the body's last piece, whatever the body's size
relative to the 64 KiB pieces it is read in, and the bytes arrive as
sent (dot-stuffing across a piece boundary, a last line without its
line end)."""

import smtplib

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
