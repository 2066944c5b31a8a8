"""Interop with Postfix in both directions (issue 15, item 5): a private
Postfix listens on postern's smarthost address (127.0.0.2) and delivers
pfdest.example to its own mbox spool; its relayhost is postern, so mail
injected with Postfix's `sendmail -C DIR` reaches postern through
Postfix's smtp client. Checked: 8BITMIME, several recipients in one
pipelined transaction, STARTTLS both ways, a 5 MB message; and, as
postern advertises them (a test fails when it does not), BDAT, DSN (a
success notice that makes the round trip) and SMTPUTF8."""

import os
import re
import shutil
import smtplib
import tempfile
import time

import pytest

from conformance import FEATURE_PENDING, ehlo_keywords
from conftest import Postern, wait_for
from postfix import running

PFDEST = "pfdest.example"       # Postfix's local domain


@pytest.fixture(scope="module")
def pair(users):
    """(postern, postfix, users): postern's smarthost is Postfix and
    Postfix's relayhost is postern."""
    base = tempfile.mkdtemp(prefix="pstcf-io-", dir="/tmp")
    p = Postern(base, users, tls=True)
    try:
        with running(relayhost="[127.0.0.1]:%d" % p.port, host="127.0.0.2",
                     port=p.smarthost_port, mydestination=PFDEST) as pf:
            try:
                p.start()
                yield p, pf, users
            finally:
                p.stop()
    finally:
        if os.environ.get("POSTERN_KEEP") is None:
            shutil.rmtree(base, ignore_errors=True)


def needs(p, feature):
    """Skip while postern does not advertise a feature being built."""
    if feature in FEATURE_PENDING and \
            feature not in ehlo_keywords(p.port):
        pytest.skip("not advertised: %s" % feature)


def marker(name):
    return "pstcf-%s-%d" % (name, int(time.time() * 1000) % 10**9)


def message(mark, body, extra_headers=""):
    return ("From: pstcf sender <pstcf-sender@client.example>\r\n"
            "Subject: %s\r\n%sMIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n"
            "Content-Transfer-Encoding: 8bit\r\n\r\n%s" % (
                mark, extra_headers, body)).encode()


def to_postern(p, rcpts, msg, sender="pstcf-sender@client.example",
               mail_options=(), rcpt_options=()):
    s = smtplib.SMTP("127.0.0.1", p.port, timeout=60)
    try:
        s.ehlo("pstcf.client.example")
        s.sendmail(sender, rcpts, msg, mail_options=list(mail_options),
                   rcpt_options=list(rcpt_options))
    finally:
        s.quit()


def one(box, mark):
    """The mbox entry holding mark (from its "From " line on)."""
    i = box.index(mark.encode())
    start = box.rfind(b"\nFrom ", 0, i) + 1
    end = box.find(b"\nFrom ", i)
    return box[start:end if end != -1 else len(box)]


def wait_msg(mta, user, mark, *needles, timeout=60):
    """user's message holding mark on mta (postern or Postfix), once it
    holds every needle too (an mbox is read while being written)."""
    def get():
        box = mta.mbox(user)
        if mark.encode() not in box:
            return None
        m = one(box, mark)
        return m if all(n in m for n in needles) else None
    return wait_for(get, timeout, what="%s in %s's mbox with %r" % (
        mark, user, [n[:40] for n in needles]))


def postfix_sessions(pf, client="127.0.0.1"):
    """Postfix smtpd's disconnect lines (command counts) for client's
    sessions that carried mail."""
    return [ln for ln in pf.log().splitlines()
            if "smtpd" in ln and "disconnect from" in ln and
            "[%s]" % client in ln and " mail=" in ln]


def postern_sessions(p, client="127.0.0.1"):
    """The same for postern's smtpd (an EHLO probe has no mail=)."""
    return [ln for ln in p.log().splitlines()
            if "disconnect from" in ln and "[%s]" % client in ln and
            " mail=" in ln]


# 8-bit text, and lines a dot-stuffing slip would change or cut
BODY8 = ("caf\u00e9 \u00fcn\u00efc\u00f6d\u00e9 8-bit body\r\n.\r\n"
         "..two dots\r\n.one dot\r\nlast line\r\n")

# ------------------------------------------------- postern -> Postfix


def test_postern_to_postfix_8bit_three_recipients(pair):
    """8BITMIME body bytes arrive unchanged; three recipients in one
    transaction, delivered by Postfix to three mboxes."""
    p, pf, u = pair
    mark = marker("a8bit")
    rcpts = ["%s@%s" % (u[k], PFDEST) for k in ("alice", "bob", "carol")]
    to_postern(p, rcpts, message(mark, BODY8),
               mail_options=["BODY=8BITMIME"])
    for k in ("alice", "bob", "carol"):
        wait_msg(pf, u[k], mark, BODY8.replace("\r\n", "\n").encode())
    wait_for(p.queue_empty, what="postern queue empty")


def test_postern_to_postfix_starttls(pair):
    """postern's remote_tls = may: Postfix's Received line for the hop
    from postern says the session was TLS."""
    p, pf, u = pair
    mark = marker("atls")
    to_postern(p, ["%s@%s" % (u["alice"], PFDEST)], message(mark, "tls\r\n"))
    msg = wait_msg(pf, u["alice"], mark, b"tls\n")
    hop = msg[msg.index(b"Received: from"):]
    hop = hop[:hop.index(b";")]
    assert b"by pstcf.postfix.example" in hop, hop
    assert b"(using TLS" in hop, hop


def test_postern_to_postfix_big_message(pair):
    """A 5 MB message arrives whole (every numbered line, in order)."""
    p, pf, u = pair
    mark = marker("abig")
    n = 5 * 1024 * 1024 // 80
    body = "".join("%07d %s\r\n" % (i, "b" * 70) for i in range(n))
    to_postern(p, ["%s@%s" % (u["bob"], PFDEST)], message(mark, body))
    msg = wait_msg(pf, u["bob"], mark, b"%07d %s" % (n - 1, b"b" * 70),
                   timeout=90)
    lines = re.findall(rb"\n(\d{7}) b{70}\n", msg.replace(b"\n", b"\n\n"))
    assert len(lines) == n and lines[-1] == b"%07d" % (n - 1), len(lines)


def test_postern_to_postfix_bdat(pair):
    """With CHUNKING, postern's remote sends BDAT to Postfix (which offers
    it): Postfix counts bdat commands in the session from postern."""
    p, pf, u = pair
    needs(p, "CHUNKING")
    mark = marker("abdat")
    before = len(postfix_sessions(pf))
    to_postern(p, ["%s@%s" % (u["carol"], PFDEST)],
               message(mark, "chunked\r\n"))
    pf.wait_mbox(u["carol"], mark)
    wait_for(lambda: any(" bdat=" in ln
                         for ln in postfix_sessions(pf)[before:]),
             what="a BDAT session from postern")


def test_postern_to_postfix_dsn_round_trip(pair):
    """DSN parameters given to postern reach Postfix: Postfix delivers
    and sends the success notice (NOTIFY=SUCCESS) with the ENVID and
    ORCPT back through postern to the sender's mbox."""
    p, pf, u = pair
    needs(p, "DSN")
    mark = marker("adsn")
    envid = "pstcf-envA-" + mark[-6:]
    rcpt = "%s@%s" % (u["alice"], PFDEST)
    to_postern(p, [rcpt], message(mark, "dsn\r\n"),
               sender="%s@test.example" % u["bob"],
               mail_options=["RET=HDRS", "ENVID=" + envid],
               rcpt_options=["NOTIFY=SUCCESS", "ORCPT=rfc822;" + rcpt])
    pf.wait_mbox(u["alice"], mark)
    notice = wait_msg(p, u["bob"], envid, b"Action: ", b"Recipient: ")
    assert re.search(rb"Action: delivered", notice), notice[:3000]
    assert re.search(rb"Original-Recipient: rfc822; ?" +
                     re.escape(rcpt.encode()), notice), notice[:3000]


def test_postern_to_postfix_smtputf8(pair):
    """A UTF-8 sender with SMTPUTF8 relays to Postfix (which offers it)
    and arrives with the address and headers intact."""
    p, pf, u = pair
    needs(p, "SMTPUTF8")
    mark = marker("autf8")
    to_postern(p, ["%s@%s" % (u["alice"], PFDEST)],
               message(mark, "utf8\r\n",
                       "To: Jos\u00e9 <%s@%s>\r\n" % (u["alice"], PFDEST)),
               sender="pel\u00e9@client.example",
               mail_options=["SMTPUTF8"])
    msg = wait_msg(pf, u["alice"], mark, b"utf8\n")
    assert "pel\u00e9@client.example".encode() in msg
    assert "Jos\u00e9".encode() in msg


# ------------------------------------------------- Postfix -> postern

def postfix_send(pf, args, msg):
    pf.sendmail(["-f", "pstcf-sender@%s" % PFDEST] + args, msg)


def test_postfix_to_postern_8bit_two_recipients(pair):
    p, pf, u = pair
    mark = marker("b8bit")
    before = len(postern_sessions(p))
    postfix_send(pf, ["%s@test.example" % u["alice"],
                      "%s@test.example" % u["bob"]], message(mark, BODY8))
    for k in ("alice", "bob"):
        wait_msg(p, u[k], mark, BODY8.replace("\r\n", "\n").encode())
    wait_for(lambda: any(" mail=1" in ln and " rcpt=2" in ln
                         for ln in postern_sessions(p)[before:]),
             what="one session from Postfix with both recipients")


def test_postfix_to_postern_starttls(pair):
    """Postfix's smtp_tls_security_level = may: postern's Received line
    for the hop from Postfix records the TLS session."""
    p, pf, u = pair
    mark = marker("btls")
    postfix_send(pf, ["%s@test.example" % u["carol"]],
                 message(mark, "tls\r\n"))
    msg = wait_msg(p, u["carol"], mark, b"tls\n")
    hop = msg[msg.index(b"Received: from"):]
    hop = hop[:hop.index(b";")]
    assert b"(postern)" in hop and b"(using TLS" in hop, hop


def test_postfix_to_postern_big_message(pair):
    p, pf, u = pair
    mark = marker("bbig")
    n = 5 * 1024 * 1024 // 80
    body = "".join("%07d %s\r\n" % (i, "c" * 70) for i in range(n))
    postfix_send(pf, ["%s@test.example" % u["alice"]], message(mark, body))
    msg = wait_msg(p, u["alice"], mark, b"%07d %s" % (n - 1, b"c" * 70),
                   timeout=90)
    lines = re.findall(rb"\n(\d{7}) c{70}\n", msg.replace(b"\n", b"\n\n"))
    assert len(lines) == n and lines[-1] == b"%07d" % (n - 1), len(lines)


def test_postfix_to_postern_chunking_offered(pair):
    """Postfix 3.7's smtp client has no BDAT (no parameter turns it on:
    its binary never sends the verb), so with CHUNKING offered it still
    sends DATA: postern's CHUNKING must not disturb such a client."""
    p, pf, u = pair
    needs(p, "CHUNKING")
    mark = marker("bbdat")
    before = len(postern_sessions(p))
    postfix_send(pf, ["%s@test.example" % u["bob"]],
                 message(mark, "chunked\r\n"))
    p.wait_mbox(u["bob"], mark, timeout=60)
    wait_for(lambda: any(" data=1" in ln and " bdat" not in ln
                         for ln in postern_sessions(p)[before:]),
             what="a DATA session from Postfix")


def test_postfix_to_postern_dsn_round_trip(pair):
    """sendmail -N success -V envid: Postfix passes NOTIFY and ENVID to
    postern, postern delivers and sends the success notice, which goes
    back through Postfix to the sender's mbox there."""
    p, pf, u = pair
    needs(p, "DSN")
    mark = marker("bdsn")
    envid = "pstcf-envB-" + mark[-6:]
    rcpt = "%s@test.example" % u["carol"]
    pf.sendmail(["-f", "%s@%s" % (u["bob"], PFDEST), "-N", "success",
                 "-V", envid, rcpt], message(mark, "dsn\r\n"))
    p.wait_mbox(u["carol"], mark, timeout=60)
    notice = wait_msg(pf, u["bob"], envid, b"Action: ", b"Recipient: ")
    assert b"Action: delivered" in notice, notice[:3000]
    assert re.search(rb"Original-Envelope-Id: " + envid.encode(), notice)
    assert re.search(rb"Final-Recipient: rfc822; ?" +
                     re.escape(rcpt.encode()), notice), notice[:3000]


def test_postfix_to_postern_smtputf8(pair):
    """A UTF-8 envelope sender makes Postfix's sendmail ask for
    SMTPUTF8; postern takes it and delivers the address intact."""
    p, pf, u = pair
    needs(p, "SMTPUTF8")
    mark = marker("butf8")
    pf.sendmail(["-f", "pel\u00e9@%s" % PFDEST,
                 "%s@test.example" % u["alice"]],
                message(mark, "utf8\r\n"))
    msg = wait_msg(p, u["alice"], mark, b"utf8\n")
    assert "pel\u00e9@".encode() in msg, msg[:2000]
