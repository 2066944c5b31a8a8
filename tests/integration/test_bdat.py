"""CHUNKING (RFC 3030, issue 15 item 1): BDAT in smtpd on every listener
(chunks of exactly their size, LAST ends the message with the queue id,
bounds, the 503 orders, a chunk that never arrives, content never parsed
for commands) and in remote toward a next hop that offers CHUNKING (DATA
otherwise). Raw sockets: no client library speaks BDAT."""

import os
import socket
import ssl
import threading
import time

import pytest

from conftest import free_port, wait_for
from postfix import running
from test_limits import smtpd_pid
from test_policy import reply

BODY = (b"Subject: chunks\r\nFrom: a@client.example\r\n\r\n"
        b"line one\r\n.\r\nQUIT\r\n..two dots\r\nlast line\r\n")


def open_session(p, port=None, ehlo=True):
    s = socket.create_connection(("127.0.0.1", port or p.port), 20)
    f = s.makefile("rb")
    code, text = reply(f)
    assert code == 220, text
    if ehlo:
        s.sendall(b"EHLO client.example\r\n")
        code, text = reply(f)
        assert code == 250, text
    return s, f


def send(s, f, data):
    s.sendall(data)
    return reply(f)


def envelope(s, f, rcpt):
    assert send(s, f, b"MAIL FROM:<a@client.example>\r\n")[0] == 250
    assert send(s, f, b"RCPT TO:<%s@test.example>\r\n" % rcpt.encode())[0] \
        == 250


def bdat(s, f, data, last=False):
    return send(s, f, b"BDAT %d%s\r\n%s" % (len(data),
                                           b" LAST" if last else b"", data))


def mail_body(p, user, needle):
    """The message in user's mbox holding needle, from its blank line."""
    box = p.wait_mbox(user, needle)
    msg = box[box.rindex(b"Return-Path: "):]
    msg = msg[msg.index(b"\n\n") + 2:]
    return msg[:-1] if msg.endswith(b"\n\n") else msg	# mbox's blank


def test_ehlo_offers_chunking_not_binarymime(postern):
    for port in (postern.port, postern.sub_port):
        s, f = open_session(postern, port, ehlo=False)
        code, text = send(s, f, b"EHLO client.example\r\n")
        assert "250-CHUNKING" in text or "250 CHUNKING" in text
        assert "BINARYMIME" not in text
        s.close()


def test_chunks_split_across_writes(postern, users):
    s, f = open_session(postern)
    envelope(s, f, users["alice"])
    head, rest = BODY[:30], BODY[30:]
    s.sendall(b"BDAT %d\r\n" % len(head))
    for i in range(0, len(head), 7):	# the chunk in pieces
        s.sendall(head[i:i + 7])
        time.sleep(0.02)
    code, text = reply(f)
    assert code == 250 and text.startswith("250 2.0.0 Ok"), text
    code, text = bdat(s, f, rest, last=True)
    assert code == 250 and "queued as" in text, text
    assert send(s, f, b"QUIT\r\n")[0] == 221
    box = postern.wait_mbox(users["alice"], b"Subject: chunks")
    assert b"Received: from client.example" in box	# cleanup's, as DATA
    assert b"with ESMTP id" in box or b"with ESMTP" in box
    body = mail_body(postern, users["alice"], b"Subject: chunks")
    # stored with LF ends; a "." line and a "QUIT" line are content
    assert body == (b"line one\n.\nQUIT\n..two dots\nlast line\n")


def test_pipelined_chunks_and_bdat_zero_last(postern, users):
    s, f = open_session(postern)
    s.sendall(b"MAIL FROM:<a@client.example>\r\n"
              b"RCPT TO:<%s@test.example>\r\n" % users["bob"].encode() +
              b"BDAT 20\r\nSubject: pipelined\r\n"
              b"BDAT 8\r\n\r\nbody\r\n"
              b"BDAT 0 LAST\r\n")
    codes = [reply(f) for _ in range(5)]
    assert [c for c, _ in codes] == [250] * 5, codes
    assert codes[2][1] == "250 2.0.0 Ok: 20 octets received"
    assert codes[3][1] == "250 2.0.0 Ok: 28 octets received"
    assert "queued as" in codes[4][1]
    assert mail_body(postern, users["bob"], b"Subject: pipelined") == \
        b"body\n"
    s.close()


def test_503_orders_and_stream_in_step(postern, users):
    s, f = open_session(postern)
    # no MAIL: 503, and the chunk (which looks like commands) is read
    code, text = bdat(s, f, b"RSET\r\nQUIT\r\n")
    assert text.startswith("503 5.5.1"), text
    assert send(s, f, b"MAIL FROM:<a@client.example>\r\n")[0] == 250
    code, text = bdat(s, f, b"NOOP\r\n")
    assert text.startswith("503 5.5.1"), text	# no RCPT yet
    assert send(s, f, b"RCPT TO:<%s@test.example>\r\n" %
                users["alice"].encode())[0] == 250
    assert bdat(s, f, b"Subject: x\r\n\r\n")[0] == 250
    code, text = send(s, f, b"DATA\r\n")
    assert text.startswith("503 5.5.1"), text	# DATA after BDAT
    code, text = bdat(s, f, b"y\r\n", last=True)
    assert code == 250 and "queued as" in text, text
    # DATA, then BDAT in the next transaction is fine: RSET works
    assert send(s, f, b"RSET\r\n")[0] == 250
    s.close()


def test_syntax_and_size_number_bounded(postern):
    s, f = open_session(postern)
    for arg in (b"BDAT\r\n", b"BDAT x\r\n", b"BDAT 5 FIRST\r\n",
                b"BDAT -1\r\n", b"BDAT " + b"9" * 30 + b"\r\n"):
        code, text = send(s, f, arg)
        assert text.startswith("501 5.5.4"), (arg, text)
    assert send(s, f, b"NOOP\r\n")[0] == 250
    s.close()


def test_over_size_fails_transaction(make_postern, users):
    p = make_postern(extra="max_message_size = 2000\n")
    s, f = open_session(p)
    envelope(s, f, users["alice"])
    code, text = bdat(s, f, b"z" * 2001, last=True)	# the first chunk
    assert text.startswith("552 5.3.4"), text
    assert send(s, f, b"RSET\r\n")[0] == 250
    envelope(s, f, users["alice"])
    assert bdat(s, f, b"Subject: big\r\n\r\n" + b"a" * 1000 + b"\r\n")[0] \
        == 250
    code, text = bdat(s, f, b"b" * 1500 + b"\r\n")
    assert text.startswith("552 5.3.4"), text
    # the transaction is failed: more chunks get 503 (and are read)
    code, text = bdat(s, f, b"QUIT\r\n", last=True)
    assert text.startswith("503 5.5.1"), text
    assert send(s, f, b"RSET\r\n")[0] == 250
    envelope(s, f, users["alice"])
    code, text = bdat(s, f, b"Subject: small\r\n\r\nok\r\n", last=True)
    assert "queued as" in text, text
    s.close()
    p.wait_mbox(users["alice"], b"Subject: small")
    assert b"Subject: big" not in p.mbox(users["alice"])
    assert "reject: BDAT" in p.log()


def test_header_limit_at_last(make_postern, users):
    """cleanup's per-message checks run for BDAT as for DATA: headers over
    max_header_size are refused at LAST, nothing is queued."""
    p = make_postern(extra="max_header_size = 1k\n")
    s, f = open_session(p)
    envelope(s, f, users["bob"])
    hdrs = b"".join(b"X-Filler-%03d: %s\r\n" % (i, b"h" * 60)
                    for i in range(40))
    assert bdat(s, f, b"Subject: fat\r\n" + hdrs)[0] == 250
    code, text = bdat(s, f, b"\r\nbody\r\n", last=True)
    assert text.startswith("552 5.6.0"), text
    assert send(s, f, b"NOOP\r\n")[0] == 250
    s.close()
    time.sleep(1)
    assert p.queue_empty()
    assert b"Subject: fat" not in p.mbox(users["bob"])


def test_rset_between_chunks_queues_nothing(postern, users):
    s, f = open_session(postern)
    envelope(s, f, users["carol"])
    assert bdat(s, f, b"Subject: dropped\r\n\r\nhalf\r\n")[0] == 250
    assert send(s, f, b"RSET\r\n")[0] == 250
    envelope(s, f, users["carol"])
    code, text = bdat(s, f, b"Subject: kept\r\n\r\nwhole\r\n", last=True)
    assert "queued as" in text, text
    s.close()
    box = postern.wait_mbox(users["carol"], b"Subject: kept")
    assert b"Subject: dropped" not in box
    assert postern.mbox_count(users["carol"]) == 1


def test_discard_reads_chunks_queues_nothing(make_postern, users):
    p = make_postern(start=False)
    path = os.path.join(p.base, "etc", "access")
    with open(path, "a") as fh:
        fh.write("From:disc@sender.example DISCARD\n")
    p.cli("map", path)
    p.start()
    s, f = open_session(p)
    assert send(s, f, b"MAIL FROM:<disc@sender.example>\r\n")[0] == 250
    assert send(s, f, b"RCPT TO:<%s@test.example>\r\n" %
                users["alice"].encode())[0] == 250
    assert bdat(s, f, b"Subject: dropped\r\n")[0] == 250
    code, text = bdat(s, f, b"\r\nbody\r\n", last=True)
    assert text == "250 2.0.0 Ok", text
    assert send(s, f, b"NOOP\r\n")[0] == 250
    s.close()
    wait_for(lambda: "discard: END-OF-MESSAGE" in p.log(), what="discard")
    assert b"Subject: dropped" not in p.mbox(users["alice"])


def test_chunk_never_arrives(make_postern, users):
    p = make_postern(extra="command_timeout = 2s\n")
    s, f = open_session(p)
    envelope(s, f, users["alice"])
    assert bdat(s, f, b"Subject: cut\r\n\r\n")[0] == 250
    s.sendall(b"BDAT 1000 LAST\r\npart of it")
    code, text = reply(f)
    assert text.startswith("421 4.4.2"), text
    assert f.readline() == b""	# closed
    wait_for(lambda: not os.listdir(os.path.join(p.queue, "incoming")),
             what="no half-written file in incoming")
    time.sleep(1)
    assert p.queue_empty()
    assert b"Subject: cut" not in p.mbox(users["alice"])


def test_binary_line_ends_and_smuggling(postern, users):
    """A bare LF ends a line; a bare CR becomes a line break in the body
    (as cleanup does for every source); "\\r\\n.\\r\\n" is content."""
    s, f = open_session(postern)
    envelope(s, f, users["carol"])
    data = (b"Subject: bare\r\n\r\nlf\nonly\r\ncr\rthere\r\n.\r\n"
            b"MAIL FROM:<evil@x>\r\nend")
    code, text = bdat(s, f, data, last=True)
    assert "queued as" in text, text
    assert send(s, f, b"QUIT\r\n")[0] == 221
    body = mail_body(postern, users["carol"], b"Subject: bare")
    assert body == b"lf\nonly\ncr\nthere\n.\nMAIL FROM:<evil@x>\nend\n"


def test_big_message_in_1mb_chunks(postern, users):
    line = b"x" * 76 + b"\r\n"
    body = b"Subject: nine\r\n\r\n" + line * (9 * 1024 * 1024 // len(line))
    s, f = open_session(postern)
    envelope(s, f, users["bob"])
    step = 1024 * 1024
    for i in range(0, len(body), step):
        part = body[i:i + step]
        code, text = bdat(s, f, part, last=i + step >= len(body))
        assert code == 250, text
    assert "queued as" in text
    s.close()
    got = mail_body(postern, users["bob"], b"Subject: nine")
    assert got == (line * (9 * 1024 * 1024 // len(line))).replace(
        b"\r\n", b"\n")


def test_one_big_chunk_is_streamed(make_postern, users):
    """Back-pressure: a 24 MB chunk goes to cleanup in pieces; smtpd's
    peak memory grows by far less than the chunk."""
    p = make_postern(extra="max_message_size = 50m\n")
    s, f = open_session(p)
    pid = smtpd_pid(p)
    envelope(s, f, users["carol"])
    before = peak_kb(pid)
    line = b"z" * 76 + b"\r\n"
    body = b"Subject: one chunk\r\n\r\n" + line * (24 * 1024 * 1024 // 78)
    code, text = bdat(s, f, body, last=True)
    assert "queued as" in text, text
    grown = peak_kb(pid) - before
    s.close()
    assert grown < 8 * 1024, "smtpd grew %d kB for a 24 MB chunk" % grown
    p.wait_mbox(users["carol"], b"Subject: one chunk")


def peak_kb(pid):
    with open("/proc/%d/status" % pid) as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def test_bdat_over_tls_submission_465(make_postern, users):
    p = make_postern(start=False, tls=True)
    port = free_port()
    with open(p.conf, "a") as fh:
        fh.write("\n[submissions]\nlisten = 127.0.0.1:%d\ntls = wrapper\n"
                 % port)
    p.start()
    wait_for(lambda: p.port_open(port), what="465 listener")
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    raw = socket.create_connection(("127.0.0.1", port), 20)
    s = ctx.wrap_socket(raw)
    f = s.makefile("rb")
    assert reply(f)[0] == 220
    code, text = send(s, f, b"EHLO client.example\r\n")
    assert "CHUNKING" in text, text
    envelope(s, f, users["alice"])
    code, text = bdat(s, f, b"Subject: over tls\r\n\r\nhi\r\n", last=True)
    assert "queued as" in text, text
    s.close()
    p.wait_mbox(users["alice"], b"Subject: over tls")


# --- remote: BDAT toward a next hop that offers CHUNKING ----------------

class ChunkPeer:
    """A small SMTP server on 127.0.0.2 that offers CHUNKING (or not) and
    records the commands and each message's content as it came on the
    wire (aiosmtpd has no BDAT). One thread per connection."""

    def __init__(self, port, chunking=True, refuse_chunk=False,
                 host="127.0.0.2"):
        self.chunking = chunking
        self.refuse_chunk = refuse_chunk
        self.commands = []
        self.messages = []
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.stopping = False
        self.threads = [threading.Thread(target=self.serve, daemon=True)]
        self.threads[0].start()

    def serve(self):
        while not self.stopping:
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            t = threading.Thread(target=self.session, args=(conn,),
                                 daemon=True)
            self.threads.append(t)
            t.start()

    def session(self, conn):
        conn.settimeout(30)
        f = conn.makefile("rb")
        w = conn.sendall
        w(b"220 peer.example ESMTP\r\n")
        content = b""
        try:
            while True:
                line = f.readline(2000)
                if not line:
                    return
                self.commands.append(line.rstrip(b"\r\n"))
                verb = line[:4].upper()
                if verb == b"EHLO":
                    w(b"250-peer.example\r\n250-PIPELINING\r\n"
                      b"250-8BITMIME\r\n" +
                      (b"250-CHUNKING\r\n" if self.chunking else b"") +
                      b"250 SIZE 100000000\r\n")
                elif verb == b"DATA":
                    w(b"354 go\r\n")
                    data = b""
                    while True:
                        part = f.readline()
                        if part in (b".\r\n", b""):
                            break
                        data += part[1:] if part.startswith(b".") else part
                    self.messages.append(data)
                    w(b"250 2.0.0 Ok: queued at peer (DATA)\r\n")
                elif verb == b"BDAT":
                    words = line.split()
                    content += f.read(int(words[1]))
                    if self.refuse_chunk:
                        w(b"554 5.6.0 chunk refused\r\n")
                    elif len(words) > 2:
                        self.messages.append(content)
                        content = b""
                        w(b"250 2.0.0 Ok: queued at peer (BDAT)\r\n")
                    else:
                        w(b"250 2.0.0 Ok: chunk\r\n")
                elif verb == b"QUIT":
                    w(b"221 2.0.0 Bye\r\n")
                    return
                else:
                    w(b"250 2.0.0 Ok\r\n")
        except OSError:
            pass
        finally:
            conn.close()

    def stop(self):
        self.stopping = True
        self.sock.close()
        for t in self.threads:
            t.join(5)


@pytest.fixture
def chunk_peer():
    made = []

    def make(port, **kw):
        made.append(ChunkPeer(port, **kw))
        return made[-1]
    yield make
    for p in made:
        p.stop()


# dot lines, a lone "." line, "QUIT" and a body over one BDAT chunk
RELAY_BODY = (b".dot first\r\n.\r\nQUIT\r\n" +
              b"".join(b"line %06d of the relayed body\r\n" % i
                       for i in range(20000)) + b"..two\r\nend\r\n")


def relay_one(p, subject, body, use_bdat):
    s, f = open_session(p)
    assert send(s, f, b"MAIL FROM:<a@client.example>\r\n")[0] == 250
    assert send(s, f, b"RCPT TO:<x@relayed.example>\r\n")[0] == 250
    msg = b"Subject: %s\r\n\r\n" % subject + body
    if use_bdat:
        code, text = bdat(s, f, msg, last=True)
    else:
        assert send(s, f, b"DATA\r\n")[0] == 354
        stuffed = msg.replace(b"\r\n.", b"\r\n..")
        code, text = send(s, f, stuffed + b".\r\n")
    assert code == 250, text
    s.close()


@pytest.mark.parametrize("use_bdat", [False, True])
def test_remote_sends_bdat_when_offered(postern, chunk_peer, use_bdat):
    peer = chunk_peer(postern.smarthost_port)
    relay_one(postern, b"to a chunking peer", RELAY_BODY, use_bdat)
    wait_for(lambda: peer.messages, what="peer got the message")
    got = peer.messages[0]
    assert got.endswith(b"\r\n\r\n" + RELAY_BODY), got[-200:]
    assert b"Subject: to a chunking peer\r\n" in got
    bdats = [c for c in peer.commands if c.upper().startswith(b"BDAT")]
    assert len(bdats) >= 2 and bdats[-1].upper().endswith(b" LAST")
    assert not any(c.upper() == b"DATA" for c in peer.commands)
    assert sum(int(c.split()[1]) for c in bdats) == len(got)
    wait_for(postern.queue_empty, what="queue empty")


def test_remote_sends_data_without_chunking(postern, chunk_peer):
    peer = chunk_peer(postern.smarthost_port, chunking=False)
    relay_one(postern, b"to a plain peer", RELAY_BODY, True)
    wait_for(lambda: peer.messages, what="peer got the message")
    assert peer.messages[0].endswith(b"\r\n\r\n" + RELAY_BODY)
    assert b"DATA" in peer.commands
    assert not any(c.upper().startswith(b"BDAT") for c in peer.commands)


def test_remote_refused_chunk_bounces(postern, chunk_peer, users):
    peer = chunk_peer(postern.smarthost_port, refuse_chunk=True)
    s, f = open_session(postern)
    assert send(s, f, b"MAIL FROM:<%s@test.example>\r\n" %
                users["alice"].encode())[0] == 250
    assert send(s, f, b"RCPT TO:<x@relayed.example>\r\n")[0] == 250
    code, text = bdat(s, f, b"Subject: refused\r\n\r\n" + RELAY_BODY,
                      last=True)
    assert code == 250, text
    s.close()
    postern.wait_mbox(users["alice"], b"chunk refused")
    assert "in reply to BDAT command" in postern.log()
    assert not peer.messages


# --- interop: postern's remote -> a private Postfix smtpd (CHUNKING) ----

@pytest.mark.skipif(not os.path.exists("/usr/sbin/postfix") or
                    os.geteuid() != 0, reason="needs Postfix, as root")
def test_interop_postfix_smtpd_receives_bdat(postern, chunk_peer):
    """postern's remote -> Postfix's smtpd (which offers CHUNKING) ->
    Postfix's smtp client (DATA) -> a recording peer on 127.0.0.3: the
    body arrives byte for byte, and Postfix logged a BDAT session."""
    final_port = free_port("127.0.0.3")
    final = ChunkPeer(final_port, chunking=False, host="127.0.0.3")
    try:
        with running(host="127.0.0.2", port=postern.smarthost_port,
                     relayhost="[127.0.0.3]:%d" % final_port,
                     mydestination="") as pf:
            relay_one(postern, b"through Postfix", RELAY_BODY, True)
            wait_for(lambda: final.messages, timeout=60,
                     what="message through Postfix")
            assert final.messages[0].endswith(b"\r\n\r\n" + RELAY_BODY)
            wait_for(lambda: "bdat=" in pf.log(),
                     what="Postfix's bdat= stat")
            assert "bdat=0" not in pf.log()
            wait_for(postern.queue_empty, what="postern's queue empty")
    finally:
        final.stop()
