"""sendmail -bs: SMTP on stdin/stdout (Step 5, item 2). Each message is a
local submission through cleanup, with the caller's uid; replies are the
server's; nothing half-read is queued."""
import pwd

import pytest

from conftest import IS_ROOT
from test_spool import sendmail


def bs(p, script, user=None):
    """Run sendmail -bs with script on stdin; the reply lines."""
    r = sendmail(p, ["-bs"], script, user=user)
    assert r.returncode == 0, r.stderr
    assert all(l.endswith(b"\r") for l in r.stdout.split(b"\n")[:-1])
    return [l.rstrip(b"\r").decode() for l in r.stdout.split(b"\n") if l]


def codes(lines):
    """The code of each final reply line (multi-line replies once)."""
    return [int(l[:3]) for l in lines if l[3:4] != "-"]


def test_pipelined_session_delivers(postern, users):
    a, b = users["alice"], users["bob"]
    script = ("EHLO client.example\r\nMAIL FROM:<app@test.example>\r\n"
              "RCPT TO:<%s>\r\nRCPT TO:<%s>\r\nDATA\r\n"
              "Subject: via -bs\r\n\r\nfirst line\r\n..dot stuffed\r\n"
              ".\r\nQUIT\r\n" % (a, b)).encode()
    out = bs(postern, script)
    assert out[0].startswith("220 mx.test.example ESMTP")
    assert "250-PIPELINING" in out and "250 ENHANCEDSTATUSCODES" in out
    assert codes(out) == [220, 250, 250, 250, 250, 354, 250, 221], out
    assert out[-2].startswith("250 2.0.0 Ok: queued as "), out
    qid = out[-2].split()[-1]
    for u in (a, b):
        box = postern.wait_mbox(u, "first line")
        assert b"\n.dot stuffed\n" in box and b"..dot" not in box
        assert b"Return-Path: <app@test.example>" in box
    assert qid in postern.log()


@pytest.mark.skipif(not IS_ROOT, reason="needs a second user")
def test_as_user_two_messages_uid_trace(postern, users):
    a, b = users["alice"], users["bob"]
    uid = pwd.getpwnam(b).pw_uid
    msg = ("MAIL FROM:<%s@mx.test.example>\r\nRCPT TO:<%s>\r\nDATA\r\n"
           "Subject: %%s\r\n\r\nbody %%s\r\n.\r\n" % (b, a))
    script = ("HELO h\r\n" + msg % ("one", "one") + "RSET\r\n" +
              msg % ("two", "two") + "QUIT\r\n").encode()
    out = bs(postern, script, user=b)
    assert codes(out) == [220, 250, 250, 250, 354, 250, 250, 250, 250,
                          354, 250, 221], out
    box = postern.wait_mbox(a, "body two")
    assert b"body one" in box
    # cleanup saw the caller: the Received line names bob's uid
    assert box.count(b"from userid %d" % uid) == 2, box


def test_errors_get_replies_and_queue_nothing(make_postern, users):
    p = make_postern(extra="max_message_size = 20k\nmax_recipients = 2\n")
    a = users["alice"]
    script = ("RCPT TO:<%s>\r\n"			# 503 need MAIL
              "MAIL FROM:<x@test.example>\r\n"
              "MAIL FROM:<y@test.example>\r\n"		# 503 nested
              "DATA\r\n"				# 554 no rcpt
              "RCPT TO:<%s>\r\nRCPT TO:<%s>\r\nRCPT TO:<%s>\r\n"  # 452
              "FROB\r\n"				# 500
              "%s\r\n"					# 500 5.5.2 too long
              "VRFY root\r\n"				# 252
              "STARTTLS\r\n"				# 454
              "DATA\r\nSubject: big\r\n\r\n%s.\r\n"	# 552
              "QUIT\r\n") % (a, a, a, a, "X" * 1200,
                             ("y" * 900 + "\r\n") * 40)
    out = bs(p, script.encode())
    c = codes(out)
    assert c == [220, 503, 250, 503, 554, 250, 250, 452, 500, 500, 252,
                 454, 354, 552, 221], out
    assert "500 5.5.2 Line too long" in out
    assert any(l.startswith("552 5.3.4") for l in out)
    assert not p.mbox(a)
    assert p.queue_empty()


def test_eof_inside_data_queues_nothing(postern, users):
    script = ("MAIL FROM:<x@test.example>\r\nRCPT TO:<%s>\r\nDATA\r\n"
              "Subject: cut\r\n\r\nno end\r\n" % users["alice"]).encode()
    out = bs(postern, script)
    assert codes(out) == [220, 250, 250, 354], out
    assert postern.queue_empty()
    assert not postern.mbox(users["alice"])


def test_never_started_says_451(make_postern, users):
    """No queue at all (postern never ran): postdrop has no maildrop to
    keep it in, and says so (a postern that is only stopped keeps the
    message: test_smalls.py)."""
    p = make_postern(start=False)
    script = ("MAIL FROM:<x@test.example>\r\nRCPT TO:<%s>\r\nDATA\r\n"
              "Subject: down\r\n\r\nx\r\n.\r\nQUIT\r\n"
              % users["alice"]).encode()
    out = bs(p, script)
    assert codes(out) == [220, 250, 250, 354, 451, 221], out
    assert "maildrop: No such file or directory" in out[-2], out


def test_long_data_line_kept_whole(postern, users):
    """A DATA line over 1,000 octets is not cut: cleanup breaks it at
    998 as it does for smtpd, and every octet arrives."""
    long = "".join(chr(ord("a") + i % 26) for i in range(2500))
    script = ("MAIL FROM:<x@test.example>\r\nRCPT TO:<%s>\r\nDATA\r\n"
              "Subject: long\r\n\r\n%s\r\n.\r\nQUIT\r\n"
              % (users["alice"], long)).encode()
    out = bs(postern, script)
    assert codes(out) == [220, 250, 250, 354, 250, 221], out
    box = postern.wait_mbox(users["alice"], "Subject: long")
    body = box.split(b"Subject: long\n", 1)[1].split(b"\n\n", 1)[1]
    assert body.replace(b"\n", b"").startswith(long.encode())
    assert max(len(l) for l in body.split(b"\n")) <= 998
