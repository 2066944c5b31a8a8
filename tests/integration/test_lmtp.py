"""mailbox = lmtp:...: local mail handed to a real Dovecot LMTP server
(dovecot-lmtpd) started here on a private socket with a private config
(its own base_dir, Maildirs under a temp dir, a passwd-file userdb with a
static uid), read back with `doveadm -c CONF fetch`. Dovecot is stopped by
its PID; the system's dovecot service is never touched. A small proxy in
front of Dovecot records who connects (SO_PEERCRED) and can cut the
connection in the middle of a session."""

import os
import pwd
import shutil
import smtplib
import socket
import struct
import subprocess
import threading
import time

import pytest

from conftest import IS_ROOT, create_users, free_port, wait_for
from dovecot import Dovecot

pytestmark = pytest.mark.skipif(
    not IS_ROOT or shutil.which("dovecot") is None,
    reason="needs root and dovecot-lmtpd (make deps)")

# System users of our own; Dovecot knows all but the last.
LM_USERS = ["pstlm%d" % i for i in range(1, 22)]
DOVE_USERS = LM_USERS[:20]
STRANGER = LM_USERS[20]
FULL = DOVE_USERS[19]       # a 1 KiB quota: Dovecot says 452 after DATA


@pytest.fixture(scope="module")
def lm_module_users():
    created = set()
    yield created
    for u in sorted(created):
        subprocess.run(["userdel", u], check=False)


@pytest.fixture
def lm_users(lm_module_users):
    """Our users, checked before each test: a parallel run that edits
    /etc/passwd at the same moment has been seen to lose them."""
    lm_module_users.update(create_users(LM_USERS))
    return LM_USERS


class Proxy:
    """A UNIX-socket relay to Dovecot that records each client's uid and
    can cut a session once the client has sent the final dot."""

    def __init__(self, target, path):
        self.target = target
        self.path = path
        self.uids = []
        self.cut_after_dot = False
        self.srv = socket.socket(socket.AF_UNIX)
        self.srv.bind(path)
        os.chmod(path, 0o666)
        self.srv.listen(8)
        self.srv.settimeout(0.2)
        self.stopping = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stopping:
            try:
                c, _ = self.srv.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            cred = c.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                struct.calcsize("3i"))
            self.uids.append(struct.unpack("3i", cred)[1])
            threading.Thread(target=self._relay, args=(c,),
                             daemon=True).start()

    def _relay(self, c):
        d = socket.socket(socket.AF_UNIX)
        d.connect(self.target)
        d.settimeout(60)
        c.settimeout(60)

        def back():
            try:
                while True:
                    b = d.recv(65536)
                    if not b:
                        break
                    c.sendall(b)
            except OSError:
                pass
            try:
                c.shutdown(socket.SHUT_WR)
            except OSError:
                pass
        t = threading.Thread(target=back, daemon=True)
        t.start()
        seen = b""
        try:
            while True:
                b = c.recv(65536)
                if not b:
                    break
                seen = (seen + b)[-8:]
                if self.cut_after_dot and seen.endswith(b"\r\n.\r\n"):
                    break       # never forwarded: Dovecot saves nothing
                d.sendall(b)
        except OSError:
            pass
        c.close()
        d.close()

    def stop(self):
        self.stopping = True
        self.srv.close()
        self.thread.join(5)


@pytest.fixture
def dovecot(lm_users):
    d = Dovecot(DOVE_USERS, free_port(), tiny_quota=[FULL]).start()
    yield d
    d.cleanup()


def lmtp_postern(make_postern, target):
    return make_postern(extra="mailbox = lmtp:%s\n" % target)


def send(p, sender, rcpts, msg):
    for attempt in range(3):
        s = smtplib.SMTP("127.0.0.1", p.port, timeout=30)
        try:
            s.sendmail(sender, rcpts, msg)
            return
        except smtplib.SMTPRecipientsRefused as e:
            if attempt == 2 or not all(b"User unknown" in r[1] for r in
                                       e.recipients.values()):
                raise
            # Not this feature: smtpd's Landlock rule is on the inode of
            # /etc/passwd it started with; a useradd/userdel by a parallel
            # run replaces the file and smtpd cannot read the new one.
            # A restarted smtpd can.
            p.cli("restart", "smtp")
            time.sleep(1)
        finally:
            try:
                s.quit()
            except smtplib.SMTPException:
                pass


BODY = (b"line one\n"
        b".a line that starts with a dot\n"
        b"..two dots\n"
        b"From the start of a line\n"
        b"\n"
        b"tab\there, trailing space \n"
        + b"x" * 990 + b"\n"
        b".\n"
        b"end\n")


def test_lmtp_one_recipient_exact_body(make_postern, dovecot):
    p = lmtp_postern(make_postern, "unix:" + dovecot.sock)
    msg = b"Subject: lmtp one\r\n\r\n" + BODY.replace(b"\n", b"\r\n")
    send(p, "sender@client.test", ["pstlm1@localhost"], msg)
    got = wait_for(lambda: dovecot.fetch("pstlm1", "body"),
                   what="message in Dovecot")
    assert got == [BODY]
    hdr = dovecot.fetch("pstlm1", "hdr")[0]
    assert b"Return-Path: <sender@client.test>\n" in hdr
    assert b"Delivered-To: pstlm1\n" in hdr
    assert b"Subject: lmtp one\n" in hdr
    wait_for(p.queue_empty, what="queue empty")
    log = p.log()
    assert "to=<pstlm1@localhost>" in log
    assert "delivered via lmtp:unix:%s" % dovecot.sock in log
    assert dovecot.sessions() == 1


def test_lmtp_twenty_recipients_one_session(make_postern, dovecot):
    p = lmtp_postern(make_postern, "unix:" + dovecot.sock)
    rcpts = ["%s@localhost" % u for u in DOVE_USERS]
    msg = b"Subject: twenty\r\n\r\nto all of you\r\n"
    t0 = time.time()
    send(p, "sender@client.test", rcpts, msg)
    for u in DOVE_USERS:
        got = wait_for(lambda: dovecot.fetch(u, "body"),
                       what="message for %s" % u)
        assert got == [b"to all of you\n"]
        # The store adds Return-Path (the final delivery); one shared
        # copy for 20 carries no per-recipient Delivered-To (Dovecot adds
        # one only to a transaction of one recipient).
        hdr = dovecot.fetch(u, "hdr")[0]
        assert hdr.count(b"Return-Path: <sender@client.test>\n") == 1
    wait_for(p.queue_empty, what="queue empty")
    print("20 recipients delivered in %.2fs" % (time.time() - t0))
    # one LMTP session for the 20, one RCPT each, one reply each
    assert dovecot.sessions() == 1, dovecot.log()
    assert dovecot.log().count("saved mail to INBOX") == 20
    assert p.log().count("status=sent (delivered via lmtp") == 20


def test_lmtp_same_user_twice_one_rcpt(make_postern, dovecot):
    """An alias and the user itself in one message: one RCPT, one copy."""
    p = make_postern(start=False, extra="mailbox = lmtp:unix:%s\n"
                     % dovecot.sock)
    with open(os.path.join(p.base, "etc", "aliases"), "a") as f:
        f.write("lmteam: pstlm1, pstlm2\n")
    p.cli("aliases")
    p.start()
    send(p, "sender@client.test", ["lmteam@localhost", "pstlm1@localhost"],
         b"Subject: dup\r\n\r\nonce\r\n")
    wait_for(p.queue_empty, what="queue empty")
    assert dovecot.fetch("pstlm1", "body") == [b"once\n"]
    assert dovecot.fetch("pstlm2", "body") == [b"once\n"]
    assert dovecot.sessions() == 1


def test_lmtp_unknown_user_bounces_others_delivered(make_postern, dovecot,
                                                    peer_factory):
    p = lmtp_postern(make_postern, "unix:" + dovecot.sock)
    peer = peer_factory(p.smarthost_port)
    send(p, "sender@remote.example",
         ["pstlm1@localhost", "%s@localhost" % STRANGER, "pstlm2@localhost"],
         b"Subject: mixed\r\n\r\nsome of you\r\n")
    wait_for(lambda: peer.messages, what="bounce to the sender")
    dsn = peer.messages[0][2]
    assert peer.messages[0][1] == ["sender@remote.example"]
    assert ("%s@localhost" % STRANGER).encode() in dsn
    assert b"User doesn't exist" in dsn, dsn
    assert b"5.1.1" in dsn
    assert b"in reply to RCPT TO" in dsn
    assert dovecot.fetch("pstlm1", "body") == [b"some of you\n"]
    assert dovecot.fetch("pstlm2", "body") == [b"some of you\n"]
    assert dovecot.fetch(STRANGER) == []
    wait_for(p.queue_empty, what="queue empty")
    assert dovecot.sessions() == 1


def test_lmtp_store_down_deferred_then_delivered(make_postern, dovecot):
    p = lmtp_postern(make_postern, "unix:" + dovecot.sock)
    dovecot.stop()
    send(p, "sender@client.test", ["pstlm3@localhost", "pstlm4@localhost"],
         b"Subject: later\r\n\r\nwait for the store\r\n")
    wait_for(lambda: p.queue_files("deferred"), what="deferred")
    q = p.cli("queue").stdout
    assert "pstlm3@localhost" in q and "pstlm4@localhost" in q
    assert "lmtp:unix:%s" % dovecot.sock in q, q
    assert "while connecting" in q, q
    dovecot.start()
    p.cli("queue", "flush")
    wait_for(lambda: dovecot.fetch("pstlm3", "body"), what="delivered")
    wait_for(p.queue_empty, what="queue empty")
    assert dovecot.fetch("pstlm3", "body") == [b"wait for the store\n"]
    assert dovecot.fetch("pstlm4", "body") == [b"wait for the store\n"]


def test_lmtp_over_tcp(make_postern, dovecot):
    p = lmtp_postern(make_postern, "[127.0.0.1]:%d" % dovecot.port)
    send(p, "sender@client.test", ["pstlm5@localhost"],
         b"Subject: tcp\r\n\r\nover tcp\r\n")
    got = wait_for(lambda: dovecot.fetch("pstlm5", "body"), what="delivered")
    assert got == [b"over tcp\n"]
    wait_for(p.queue_empty, what="queue empty")
    assert "delivered via lmtp:[127.0.0.1]:%d" % dovecot.port in p.log()


def test_lmtp_session_runs_as_user_and_cut_mid_data_defers(make_postern,
                                                          dovecot):
    """The session is run by a child that dropped to `user` (the proxy
    sees the peer's uid); a connection cut after the final dot defers
    every recipient, and nothing is lost or delivered twice."""
    proxy = Proxy(dovecot.sock, os.path.join(dovecot.base, "proxy"))
    try:
        proxy.cut_after_dot = True
        p = lmtp_postern(make_postern, "unix:" + proxy.path)
        send(p, "sender@client.test", ["pstlm6@localhost",
                                       "pstlm7@localhost"],
             b"Subject: cut\r\n\r\ncut in the middle\r\n")
        wait_for(lambda: p.queue_files("deferred"), what="deferred")
        q = p.cli("queue").stdout
        assert "pstlm6@localhost" in q and "pstlm7@localhost" in q
        assert "lost connection" in q, q
        assert dovecot.fetch("pstlm6") == []
        assert proxy.uids and set(proxy.uids) == {pwd.getpwnam(
            "nobody").pw_uid}, proxy.uids
        proxy.cut_after_dot = False
        p.cli("queue", "flush")
        wait_for(p.queue_empty, what="queue empty")
        assert dovecot.fetch("pstlm6", "body") == [b"cut in the middle\n"]
        assert dovecot.fetch("pstlm7", "body") == [b"cut in the middle\n"]
    finally:
        proxy.stop()


def test_lmtp_full_mailbox_deferred_after_data(make_postern, dovecot):
    """A 4xx for one recipient after the final dot defers that one only."""
    p = lmtp_postern(make_postern, "unix:" + dovecot.sock)
    send(p, "sender@client.test", ["pstlm8@localhost", "%s@localhost" % FULL],
         b"Subject: big\r\n\r\n" + (b"y" * 70 + b"\r\n") * 60)
    wait_for(lambda: p.queue_files("deferred"), what="deferred")
    assert dovecot.fetch("pstlm8", "body") == [(b"y" * 70 + b"\n") * 60]
    assert dovecot.fetch(FULL) == []
    q = p.cli("queue").stdout
    assert "%s@localhost" % FULL in q and "pstlm8@localhost" not in q, q
    assert "4.2.2" in q and "Quota exceeded" in q, q
    assert "end of DATA" in q, q
    assert dovecot.sessions() == 1


def test_lmtp_bad_setting_names_file_and_line(make_postern):
    p = make_postern(start=False)
    with open(p.conf) as f:
        lines = f.read().splitlines(True)
    n = next(i for i, l in enumerate(lines) if l.startswith("mailbox ="))
    lines[n] = "mailbox = lmtp:[127.0.0.1]:99999\n"
    with open(p.conf, "w") as f:
        f.writelines(lines)
    r = p.cli("check", check=False)
    assert r.returncode != 0
    assert "postern.conf:%d: mailbox: bad LMTP store" % (n + 1) in (
        r.stderr + r.stdout), r.stderr
    assert "PORT must be a number from 1 to 65535" in r.stderr + r.stdout
    r = p.cli("start", check=False)
    assert r.returncode != 0
    assert not p.master_pid()
