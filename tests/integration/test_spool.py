"""
Local submission and the queue's disk (Step 2, items 8, 9 and the cleanup
part of 11): the public cleanup socket applies the server's limits and
always leaves the uid trace, idle local clients cannot starve SMTP
queueing, authorized_submit_users, queue_minfree and ENOSPC answer
452 4.3.1 with nothing half-written, and cleanup removes bare CR and
breaks lines over 998 octets.
"""
import os
import pwd
import shutil
import smtplib
import socket
import subprocess
import time

import pytest

from conftest import IS_ROOT, POSTERN, wait_for
from test_proto import frame, open_public, read_frame


def sendmail(p, args, data, user=None):
    # A copy, not a link: a user must be able to run it when the checkout
    # sits in a directory only root can enter (/root is 0700).
    sm = os.path.join(p.base, "sendmail")
    if not os.path.exists(sm):
        shutil.copy(POSTERN, sm)
        os.chmod(sm, 0o755)
    pre = None
    if user is not None:
        pw = pwd.getpwnam(user)

        def pre():
            os.setgid(pw.pw_gid)
            os.setuid(pw.pw_uid)
    return subprocess.run([sm] + args, input=data, env=p.env,
                          capture_output=True, preexec_fn=pre, timeout=60)


def test_public_max_size_is_the_servers(make_postern, users):
    p = make_postern(extra="max_message_size = 20k\n")
    s, r = open_public(p, ("rcpt", users["alice"].encode()),
                       ("max_size", b"4000000000"),
                       ("max_header_size", b"4000000000"))
    assert r.get("status") == b"ok", r
    s.sendall(frame(("req", b"data"),
                    ("chunk", b"Subject: big\n\n" + b"x" * 100 + b"\n")))
    for _ in range(5):
        s.sendall(frame(("req", b"data"), ("chunk", b"y" * 60000 + b"\n")))
    s.sendall(frame(("req", b"end")))
    r = read_frame(s)
    s.close()
    assert r.get("status") == b"error" and r.get("code") == b"552", r


def test_public_received_zero_keeps_uid_trace(postern, users):
    s, r = open_public(postern, ("rcpt", users["alice"].encode()),
                       ("received", b"0"))
    assert r.get("status") == b"ok", r
    s.sendall(frame(("req", b"data"),
                    ("chunk", b"Subject: t\n\nno trace?\n")))
    s.sendall(frame(("req", b"end")))
    r = read_frame(s)
    s.close()
    assert r.get("status") == b"ok", r
    box = postern.wait_mbox(users["alice"], b"no trace?")
    assert b"from userid %d" % os.getuid() in box, box


def test_idle_local_clients_do_not_starve_smtp(postern, users):
    idle = []
    for _ in range(20):
        c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        c.connect(os.path.join(postern.queue, "public", "cleanup"))
        idle.append(c)
    time.sleep(0.5)
    try:
        t0 = time.time()
        s = smtplib.SMTP("127.0.0.1", postern.port, timeout=20)
        s.sendmail("a@client.test", ["%s@localhost" % users["alice"]],
                   b"Subject: starve\r\n\r\nstill queued\r\n")
        s.quit()
        assert time.time() - t0 < 10
    finally:
        for c in idle:
            c.close()
    postern.wait_mbox(users["alice"], b"still queued")


@pytest.mark.skipif(not IS_ROOT, reason="needs real users")
def test_authorized_submit_users(make_postern, users):
    p = make_postern(extra="authorized_submit_users = %s\n" % users["alice"])
    msg = b"To: %s@localhost\nSubject: who\n\nby %%s\n" % (
        users["carol"].encode())
    r = sendmail(p, ["-t", "-i"], msg.replace(b"%s", b"bob"),
                 user=users["bob"])
    assert r.returncode == 77, r
    assert b"not authorized" in r.stderr.lower(), r
    r = sendmail(p, ["-t", "-i"], msg.replace(b"%s", b"alice"),
                 user=users["alice"])
    assert r.returncode == 0, r
    box = p.wait_mbox(users["carol"], b"by alice")
    assert b"by bob" not in box


def smtp_send(p, rcpt, body, size=None):
    """MAIL [SIZE], RCPT, DATA: the replies (code, text) of each step."""
    s = smtplib.SMTP("127.0.0.1", p.port, timeout=30)
    s.ehlo("client.test")
    opts = ["SIZE=%d" % size] if size else []
    out = [s.mail("a@client.test", opts)]
    if out[-1][0] == 250:
        out.append(s.rcpt(rcpt))
        try:
            out.append(s.data(body))
        except smtplib.SMTPDataError as e:
            out.append((e.smtp_code, e.smtp_error))
    s.quit()
    return out


@pytest.fixture
def small_queue(make_postern):
    made = []

    def make(extra):
        p = make_postern(extra=extra, start=False)
        os.makedirs(p.queue)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m,mode=0755",
                        "tmpfs", p.queue], check=True)
        made.append(p)
        p.start()
        return p
    yield make
    for p in made:
        p.stop()
        subprocess.run(["umount", "-l", p.queue], check=False)


def fill(p, leave):
    """Fill the queue's file system until about `leave` bytes are free."""
    st = os.statvfs(p.queue)
    free = st.f_bavail * st.f_frsize
    path = os.path.join(p.queue, "filler")
    with open(path, "wb") as f:
        f.write(b"\0" * max(0, free - leave))
    return path


@pytest.mark.skipif(not IS_ROOT, reason="mounts a tmpfs")
def test_queue_minfree_452(small_queue, users):
    p = small_queue("queue_minfree = 2m\n")
    rcpt = "%s@localhost" % users["alice"]
    r = smtp_send(p, rcpt, b"Subject: ok\r\n\r\nroom enough\r\n", size=1000)
    assert r[-1][0] == 250, r
    filler = fill(p, 1024 * 1024)
    r = smtp_send(p, rcpt, b"x\r\n", size=100)
    assert r[0][0] == 452 and b"4.3.1" in r[0][1], r
    r = smtp_send(p, rcpt, b"x\r\n")
    assert r[1][0] == 250 and r[2][0] == 452 and b"4.3.1" in r[2][1], r
    r = sendmail(p, ["-i", rcpt], b"Subject: local\n\nno room\n")
    assert r.returncode == 75 and b"452 4.3.1" in r.stderr, r
    os.unlink(filler)
    # 1.5 x SIZE over the free space: refused, even with room for minfree
    r = smtp_send(p, rcpt, b"x\r\n", size=6 * 1024 * 1024)
    assert r[0][0] == 452 and b"4.3.1" in r[0][1], r
    r = smtp_send(p, rcpt, b"Subject: t\r\n\r\nspace again\r\n", size=100)
    assert r[-1][0] == 250, r
    p.wait_mbox(users["alice"], b"space again")


@pytest.mark.skipif(not IS_ROOT, reason="mounts a tmpfs")
def test_enospc_mid_message(small_queue, users, peer_factory):
    p = small_queue("queue_minfree = 0\n")
    # Got 250 while the peer is down: waits in the queue.
    r = smtp_send(p, "far@remote.example",
                  b"Subject: early\r\n\r\nqueued before the disk filled\r\n")
    assert r[-1][0] == 250, r
    filler = fill(p, 512 * 1024)
    big = b"Subject: big\r\n\r\n" + (b"z" * 900 + b"\r\n") * 3000
    r = smtp_send(p, "%s@localhost" % users["alice"], big)
    assert r[-1][0] == 452 and b"4.3.1" in r[-1][1], r
    assert not [n for n in os.listdir(os.path.join(p.queue, "incoming"))
                if n.startswith("t.")]
    queued = sum(len(p.queue_files(d)) for d in
                 ("incoming", "active", "deferred"))
    assert queued == 1      # the early message only: nothing half-written
    os.unlink(filler)
    peer = peer_factory(p.smarthost_port)
    p.cli("queue", "flush", check=False)
    wait_for(lambda: peer.messages, timeout=30, what="relayed message")
    assert b"queued before the disk filled" in peer.messages[0][2]


def test_bare_cr_and_long_lines(postern, users, peer_factory):
    peer = peer_factory(postern.smarthost_port)
    long_hdr = "X-Long: " + "h" * 1100
    body = ("To: far@remote.example\n%s\nSubject: cr\n\nline a\r.\r"
            "MAIL FROM:<evil@x>\rline b\r\n%s\nend\n" % (long_hdr, "L" * 1200))
    r = sendmail(postern, ["-t", "-i"], body.encode())
    assert r.returncode == 0, r
    wait_for(lambda: peer.messages, what="relayed message")
    assert len(peer.messages) == 1
    data = peer.messages[0][2]
    assert b"\r" not in data.replace(b"\r\n", b""), data
    lines = data.split(b"\r\n")
    assert all(len(x) <= 998 for x in lines), [len(x) for x in lines]
    assert (b"line a\r\n.\r\nMAIL FROM:<evil@x>\r\nline b\r\n" in data or
            b"line a\r\n..\r\nMAIL FROM:<evil@x>\r\nline b\r\n" in data), data
    assert b"L" * 1200 in data.replace(b"\r\n", b"")
    assert b"h" * 1100 in data.replace(b"\r\n ", b"")
    assert b"\r\nend\r\n" in data


def test_sendmail_streams_past_the_read_ahead(postern, users):
    # sendmail reads up to 4 MiB before it connects; a bigger message
    # streams on, in one piece, with the "." line ending it (no -i).
    line = b"0123456789" * 9 + b"\n"
    body = (b"To: %s@localhost\nSubject: big local\n\n" % users["alice"].encode()
            + line * 60000 + b"last line\n.\nnot sent\n")
    r = sendmail(postern, ["-t"], body)
    assert r.returncode == 0, r
    box = postern.wait_mbox(users["alice"], b"last line", timeout=60)
    assert box.count(line) >= 60000 and b"not sent" not in box


def test_public_recipient_with_controls_is_refused(postern, users):
    # Any local user reaches public/cleanup: a recipient with CR/LF would
    # become SMTP commands at the next hop, a 300-octet domain would not
    # route. cleanup queues only addresses that parse.
    bad = [b"x@remote.example>\r\nRCPT TO:<y@remote.example",
           b"a@" + b"d" * 300, b"x> SIZE=1@remote.example"]
    for rcpt in bad:
        s, r = open_public(postern, ("rcpt", rcpt))
        if r.get("status") == b"ok":
            s.sendall(frame(("req", b"data"), ("chunk", b"Subject: t\n\nx\n")))
            s.sendall(frame(("req", b"end")))
            r = read_frame(s)
        s.close()
        assert r.get("status") == b"error", (rcpt, r)
    assert os.listdir(os.path.join(postern.queue, "incoming")) == []
    assert os.listdir(os.path.join(postern.queue, "active")) == []
    # and mail still flows
    r = sendmail(postern, [users["alice"]], b"Subject: after\n\nstill ok\n")
    assert r.returncode == 0, r
    postern.wait_mbox(users["alice"], b"still ok")


def test_bare_cr_in_headers_does_not_end_them(postern, users):
    # A bare CR in a header must not end the header section: a Bcc after
    # it would be shown to every recipient, and -t would miss it.
    body = ("To: %s@localhost\nSubject: one\rtwo\nBcc: %s@localhost\n\n"
            "hidden bcc\n" % (users["alice"], users["bob"]))
    r = sendmail(postern, ["-t", "-i"], body.encode())
    assert r.returncode == 0, r
    a = postern.wait_mbox(users["alice"], b"hidden bcc")
    postern.wait_mbox(users["bob"], b"hidden bcc")
    assert b"Bcc:" not in a, a
    assert b"Subject: one two\n" in a, a


@pytest.mark.skipif(not IS_ROOT, reason="needs root (a worker's uid)")
def test_master_control_socket_refuses_workers(postern, users):
    # private/master restarts services: only the admin may ask, not a
    # (compromised) worker running as the unprivileged user.
    path = os.path.join(postern.queue, "private", "master")
    pw = pwd.getpwnam("nobody")
    pid = os.fork()
    if pid == 0:
        try:
            os.setgid(pw.pw_gid)
            os.setuid(pw.pw_uid)
            c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            c.settimeout(5)
            c.connect(path)
            try:
                c.sendall(frame(("req", b"restart"), ("service", b"qmgr")))
                got = c.recv(100)
            except (BrokenPipeError, ConnectionResetError):
                got = b""       # closed before or after our frame
            os._exit(0 if got == b"" else 1)
        except Exception:
            os._exit(2)
    _, st = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(st) == 0, st
    wait_for(lambda: "private/master: request from uid %d refused"
             % pw.pw_uid in postern.log(), what="refusal logged")


def test_sendmail_flags_cron_works_unbuilt_refused(postern, users):
    # Debian cron's exact call is served; a flag whose feature is not
    # built is refused with a reason.
    r = sendmail(postern, ["-FCronDaemon", "-i", "-B8BITMIME", "-oem",
                           users["alice"]], b"Subject: cron\n\nfrom cron\n")
    assert r.returncode == 0, r
    postern.wait_mbox(users["alice"], b"from cron")
    # (-v and -qR are built now: tests/integration/test_sendmail_flags.py)
    for flags in (["-n"], ["-L", "tag"], ["-oQ/tmp"]):
        r = sendmail(postern, flags + [users["alice"]], b"Subject: x\n\nx\n")
        assert r.returncode == 64 and b"not supported" in r.stderr, (flags, r)
    # (-N, -R, -V are built now: tests/integration/test_dsn.py)
