"""Step 5 review round: sendmail -bs keeps mail while postern is down
(through postdrop, as plain sendmail does), the set-id postdrop reads
only the admin's config, pickup's edge cases (an oversized drop, an
unknown version, a large maildrop), showq under idle clients, mailbox
parents never followed through a symlink, and the dotlock's pid."""
import os
import pwd
import shutil
import smtplib
import socket
import subprocess
import tempfile
import time

import pytest

from conftest import (IS_ROOT, POSTERN, create_users, remove_users,
                      wait_for)
from test_maildrop import (down, entries, maildrop,  # noqa: F401
                           postdrop_group, sendmail)

pytestmark = pytest.mark.skipif(not IS_ROOT, reason="needs root: a "
                                "setgid postdrop and users of its own")

MY_USERS = ["pstsma", "pstsmb", "pstsmc"]


@pytest.fixture(scope="module")
def smu():
    """Users of this module's own (another session's teardown of the
    shared test users cannot pull them away mid-test)."""
    made = create_users(MY_USERS)
    yield MY_USERS
    remove_users(made)


def reply_lines(out):
    assert all(l.endswith(b"\r") for l in out.split(b"\n")[:-1]), out
    return [l.rstrip(b"\r").decode() for l in out.split(b"\n") if l]


def codes(lines):
    return [int(l[:3]) for l in lines if l[3:4] != "-"]


def test_bs_while_down_is_kept_and_delivered_at_start(
        make_postern, smu, postdrop_group):
    a, b = smu[0], smu[1]
    p = down(make_postern)
    script = ("EHLO client.example\r\nMAIL FROM:<%s@mx.test.example>\r\n"
              "RCPT TO:<%s>\r\nDATA\r\nSubject: kept by -bs\r\n\r\n"
              "first line\r\n..dot stuffed\r\nlast line\r\n.\r\n"
              "QUIT\r\n" % (b, a)).encode()
    r = sendmail(p, postdrop_group, ["-bs"], script, user=b)
    assert r.returncode == 0, r.stderr
    out = reply_lines(r.stdout)
    assert codes(out) == [220, 250, 250, 250, 354, 250, 221], out
    assert out[-2] == "250 2.0.0 Ok: queued", out
    # on disk before the 250: the maildrop holds it, owned by bob
    names = maildrop(p)
    assert len(names) == 1
    st = os.stat(os.path.join(p.queue, "maildrop", names[0]))
    assert st.st_uid == pwd.getpwnam(b).pw_uid
    p.start()
    box = p.wait_mbox(a, "last line")
    assert b"Subject: kept by -bs\n" in box
    assert b"\n\nfirst line\n.dot stuffed\nlast line\n" in box
    assert b"from userid %d" % st.st_uid in box
    assert b"Return-Path: <%s@mx.test.example>" % b.encode() in box
    wait_for(lambda: not maildrop(p), what="maildrop empty")


def test_bs_while_down_refusals_are_replies(make_postern, smu,
                                            postdrop_group):
    """postdrop's refusal is the reply to the final dot (554 for a user
    not in authorized_submit_users); the session goes on."""
    a, b = smu[0], smu[1]
    p = down(make_postern, extra="authorized_submit_users = root, %s\n"
             % a)
    msg = ("MAIL FROM:<x@test.example>\r\nRCPT TO:<%s>\r\nDATA\r\n"
           "Subject: s\r\n\r\nrefused one\r\n.\r\n" % a)
    r = sendmail(p, postdrop_group, ["-bs"],
                 ("HELO h\r\n" + msg + "NOOP\r\nQUIT\r\n").encode(), user=b)
    out = reply_lines(r.stdout)
    assert codes(out) == [220, 250, 250, 250, 354, 554, 250, 221], out
    assert "5.7.1" in out[-3]
    assert maildrop(p) == []


def test_setid_postdrop_reads_only_the_admins_config(make_postern, smu,
                                                     postdrop_group):
    """A user cannot pick another root-owned config for the set-id
    postdrop (one with the same queue but no limits would let them skip
    max_message_size and queue_minfree): -c is root's only."""
    a, b = smu[0], smu[1]
    p = down(make_postern, extra="max_message_size = 10k\n")
    other = os.path.join(p.base, "other")
    os.mkdir(other, 0o755)
    with open(p.conf) as f:
        text = f.read().replace("max_message_size = 10k\n", "")
    lax = os.path.join(other, "lax.conf")
    with open(lax, "w") as f:
        f.write(text.replace("\n[smtp]", "\nmax_message_size = 1g\n"
                             "queue_minfree = 0\n[smtp]", 1))
    os.chmod(lax, 0o644)
    assert os.stat(lax).st_uid == 0
    big = b"Subject: big\n\n" + (b"z" * 70 + b"\n") * 400
    r = sendmail(p, postdrop_group, ["-C", lax, a], big, user=b)
    assert r.returncode == 75, r.stderr
    assert b"only root may name another config" in r.stderr, r.stderr
    assert entries(p) == []
    # without -C the admin's limit holds
    r = sendmail(p, postdrop_group, [a], big, user=b)
    assert r.returncode == 65 and b"552 5.3.4" in r.stderr, r.stderr
    # root may name a config
    r = sendmail(p, postdrop_group, ["-C", lax, a], big)
    assert r.returncode == 0, r.stderr
    assert len(maildrop(p)) == 1


def test_drop_over_a_lowered_limit_comes_back_to_its_owner(
        make_postern, smu, postdrop_group):
    """A drop kept under max_message_size = 4m, then the limit lowered
    to 100k before postern starts: cleanup refuses it (552 5.3.4) and
    its owner gets it back; it is never removed unsaid."""
    a, b = smu[0], smu[1]
    p = down(make_postern, extra="max_message_size = 4m\n")
    body = b"Subject: huge\n\nhuge start\n" + (b"h" * 99 + b"\n") * 20000
    r = sendmail(p, postdrop_group, [a], body, user=b)
    assert r.returncode == 0, r.stderr
    assert len(maildrop(p)) == 1
    with open(p.conf) as f:
        text = f.read()
    with open(p.conf, "w") as f:
        f.write(text.replace("max_message_size = 4m", "max_message_size = "
                             "100k"))
    p.start()
    box = p.wait_mbox(b, "Undelivered Mail Returned to Sender")
    assert b"5.3.4" in box and b"huge start" in box
    assert b"<%s>" % a.encode() in box
    wait_for(lambda: not maildrop(p), what="maildrop empty")
    assert p.mbox(a) == b""
    assert "oversized" not in p.log()


def test_unknown_version_set_aside_once_over_passes(make_postern, smu,
                                                    postdrop_group):
    """1,200 files of a format version pickup does not know (more than
    one pass of 1,000) are each moved to maildrop/bad once with one log
    line, never logged again every pass; a good file among them, named
    last, is delivered."""
    a, b = smu[0], smu[1]
    p = down(make_postern)
    r = sendmail(p, postdrop_group, [a], b"Subject: good\n\nthe good one\n",
                 user=b)
    assert r.returncode == 0, r.stderr
    md = os.path.join(p.queue, "maildrop")
    buid = pwd.getpwnam(b).pw_uid
    for i in range(1200):
        path = os.path.join(md, "%016X%08X" % (1, i))
        with open(path, "wb") as f:
            f.write(b"postern-maildrop 9\nfrom the future\n")
        os.chown(path, buid, postdrop_group)
    p.start()
    p.wait_mbox(a, "the good one")
    bad = os.path.join(md, "bad")
    wait_for(lambda: len(os.listdir(bad)) == 1200, what="all set aside",
             timeout=60)
    assert maildrop(p) == []
    st = os.stat(bad)
    assert st.st_mode & 0o777 == 0o700
    # poke twice more: nothing is logged again
    for _ in range(2):
        s = socket.socket(socket.AF_UNIX)
        s.connect(os.path.join(p.queue, "public", "pickup"))
        s.close()
        time.sleep(1.2)
    log = p.log()
    assert log.count("unknown format version; moved to maildrop/bad/") \
        == 1200
    assert log.count("%016X%08X" % (1, 7)) == 1
    assert "kept for later" not in log


def test_idle_showq_clients_do_not_stall_mailq(make_postern, smu):
    """Eight connections to public/showq that never send a request (two
    showq processes) do not keep a user's mailq waiting: they wait in a
    poll set, not in a process, and are closed after a few seconds."""
    b = smu[1]
    p = make_postern()
    idle = []
    for _ in range(8):
        s = socket.socket(socket.AF_UNIX)
        s.connect(os.path.join(p.queue, "public", "showq"))
        idle.append(s)
    pw = pwd.getpwnam(b)

    def pre():
        os.setgroups([])
        os.setgid(pw.pw_gid)
        os.setuid(pw.pw_uid)
    mailq = os.path.join(p.base, "mailq")
    shutil.copy(POSTERN, mailq)
    os.chmod(mailq, 0o755)
    # 8 idle clients held 10 s each by 2 processes made this wait 40 s
    r = subprocess.run(["mailq"], executable=mailq, env=p.env,
                       capture_output=True, text=True, preexec_fn=pre,
                       timeout=30)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "Mail queue is empty", r.stdout
    # the idle ones are closed by showq, not kept forever
    for s in idle:
        s.settimeout(30)
        assert s.recv(1) == b""
        s.close()
    assert p.children("showq")


def smtp_to(p, rcpt, text):
    s = smtplib.SMTP("127.0.0.1", p.port, timeout=20)
    s.sendmail("app@client.test", [rcpt], "Subject: t\r\n\r\n%s\r\n" % text)
    s.quit()


def test_mailbox_parents_never_followed_through_a_users_symlink(
        make_postern, smu):
    """mailbox = mbox:SPOOL/%u/inbox, SPOOL world-writable (sticky): a
    user who plants SPOOL/NAME -> a root-owned directory must not get
    root to create a mailbox of theirs in it. A symlink root made in a
    directory that is root's alone is still followed."""
    a = smu[2]
    uid = pwd.getpwnam(a).pw_uid
    base = tempfile.mkdtemp(prefix="pstsm-", dir="/tmp")
    os.chmod(base, 0o755)
    try:
        spool = os.path.join(base, "spool")
        target = os.path.join(base, "rootonly")
        os.mkdir(spool)
        os.chmod(spool, 0o1777)
        os.mkdir(target, 0o755)
        os.symlink(target, os.path.join(spool, a))
        os.lchown(os.path.join(spool, a), uid, -1)      # the user's
        p = make_postern(extra="mailbox = mbox:%s/%%u/inbox\n" % spool)
        smtp_to(p, a, "planted")
        wait_for(lambda: "status=deferred" in p.log(), what="deferred")
        assert not os.path.exists(os.path.join(target, "inbox"))
        p.stop()
        # root's own link, in a directory only root writes: followed
        real = os.path.join(base, "realspool")
        os.mkdir(real, 0o755)
        os.symlink(real, os.path.join(base, "linkspool"))
        q = make_postern(extra="mailbox = mbox:%s/linkspool/%%u\n" % base)
        smtp_to(q, a, "through roots link")
        box = os.path.join(real, a)
        wait_for(lambda: os.path.exists(box) and b"through roots link"
                 in open(box, "rb").read(), what="delivered")
        assert os.stat(box).st_uid == uid
    finally:
        shutil.rmtree(base, ignore_errors=True)
