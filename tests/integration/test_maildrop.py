"""maildrop and pickup (Step 5, item 2): while postern is down, sendmail
keeps a local submission in queue_dir/maildrop through the setgid
postdrop, and pickup feeds it to cleanup at start, as a local submission
by the file's owner. Forged files are refused, logged and removed."""
import grp
import json
import os
import pwd
import shutil
import smtplib
import socket
import subprocess
import time

import pytest

from conftest import (BUILD, IS_ROOT, POSTERN, create_users, remove_users,
                      wait_for)

pytestmark = pytest.mark.skipif(not IS_ROOT, reason="needs root: a "
                                "setgid postdrop and a second user")

MAGIC = b"postern-maildrop 1\n"


MY_USERS = ["pstmda", "pstmdb", "pstmdc"]


@pytest.fixture(scope="module")
def users():
    """Users of this module's own, so that another session's teardown
    of the shared test users cannot pull them away mid-test."""
    made = create_users(MY_USERS)
    yield {"alice": MY_USERS[0], "bob": MY_USERS[1], "carol": MY_USERS[2],
           "real": True}
    remove_users(made)


@pytest.fixture(scope="module")
def postdrop_group():
    """The group postdrop (made here if missing, and removed after)."""
    made = False
    try:
        grp.getgrnam("postdrop")
    except KeyError:
        subprocess.run(["groupadd", "--system", "postdrop"], check=True)
        made = True
    yield grp.getgrnam("postdrop").gr_gid
    if made:
        subprocess.run(["groupdel", "postdrop"], check=False)


DEFAULT_TAG = b"postdrop-config:"


def postdrop_copy(src, dst, conf):
    """A copy of postdrop whose compiled-in config (the only one it reads
    set-id for a caller other than root) is conf: written in place after
    the tag, in the array sized for it (tools/postdrop.c)."""
    with open(src, "rb") as f:
        data = bytearray(f.read())
    at = data.index(DEFAULT_TAG + b"/") + len(DEFAULT_TAG)
    assert data.count(DEFAULT_TAG + b"/") == 1
    end = data.index(b"\0", at)        # the compiled-in path's end
    path = conf.encode() + b"\0"
    # the array (PATH_MAX) is zeros past its path: room for ours
    assert len(path) < 1024 and not any(data[end:at + len(path)])
    data[at:at + len(path)] = path
    with open(dst, "wb") as f:
        f.write(data)


def libexec(p, gid):
    """A libexec directory holding postdrop setgid postdrop, as make
    install leaves it, its compiled-in config this instance's."""
    d = os.path.join(p.base, "libexec")
    if not os.path.isdir(d):
        os.makedirs(d)
        os.chmod(d, 0o755)
        dst = os.path.join(d, "postdrop")
        postdrop_copy(os.path.join(BUILD, "postdrop"), dst, p.conf)
        os.chown(dst, 0, gid)
        os.chmod(dst, 0o2755)
    return d


def binary(p):
    """A copy of the postern binary that any user can run: the checkout
    may sit in a directory only root can enter (a 0700 mktemp -d, /root)."""
    path = os.path.join(p.base, "postern-bin")
    if not os.path.exists(path):
        shutil.copy(POSTERN, path)
        os.chmod(path, 0o755)
    return path


def sendmail(p, gid, args, body, user=None):
    pre = None
    if user is not None:
        pw = pwd.getpwnam(user)

        def pre():
            os.setgroups([])
            os.setgid(pw.pw_gid)
            os.setuid(pw.pw_uid)
    # LeakSanitizer cannot run in a set-id process (an ASan build)
    env = dict(p.env, POSTERN_LIBEXEC=libexec(p, gid),
               ASAN_OPTIONS="detect_leaks=0")
    return subprocess.run(["sendmail"] + args, executable=binary(p),
                          input=body, env=env, capture_output=True,
                          preexec_fn=pre, timeout=60)


def maildrop(p):
    return sorted(n for n in entries(p) if not n.startswith("t."))


def entries(p):
    """What maildrop/ holds but pickup's own bad/ (files it set aside)."""
    return [n for n in os.listdir(os.path.join(p.queue, "maildrop"))
            if n != "bad"]


def down(make_postern, extra=""):
    """An instance that ran once (its queue tree made), now stopped."""
    p = make_postern(extra=extra)
    p.stop()
    wait_for(lambda: not p.our_pids(), what="postern stopped")
    return p


def test_kept_while_down_delivered_at_start(make_postern, users,
                                            postdrop_group):
    a, b = users["alice"], users["bob"]
    p = down(make_postern)
    st = os.stat(os.path.join(p.queue, "maildrop"))
    assert st.st_gid == postdrop_group and st.st_mode & 0o7777 == 0o1730
    r = sendmail(p, postdrop_group, ["-i", a],
                 b"Subject: kept by root\n\nbody from root\n")
    assert (r.returncode, r.stdout, r.stderr) == (0, b"", b"")
    r = sendmail(p, postdrop_group, ["-F", "Bob B", a],
                 b"Subject: kept by bob\n\nbody from bob\n.\n", user=b)
    assert (r.returncode, r.stderr) == (0, b""), r.stderr
    names = maildrop(p)
    assert len(names) == 2
    owners = {os.stat(os.path.join(p.queue, "maildrop", n)).st_uid
              for n in names}
    buid = pwd.getpwnam(b).pw_uid
    assert owners == {0, buid}
    p.start()
    box = p.wait_mbox(a, "body from bob")
    assert b"body from root" in box
    assert b"from userid %d" % buid in box and b"from userid 0" in box
    assert b"From: Bob B <%s@" % b.encode() in box
    assert b"Return-Path: <%s@mx.test.example>" % b.encode() in box
    wait_for(lambda: not maildrop(p), what="maildrop empty")
    assert p.log().count("from maildrop/") == 2


def test_forged_files_refused_and_logged(make_postern, users,
                                         postdrop_group):
    a, b, c = users["alice"], users["bob"], users["carol"]
    p = down(make_postern, extra="max_message_size = 10k\n")
    md = os.path.join(p.queue, "maildrop")
    r = sendmail(p, postdrop_group, [a], b"Subject: good\n\nthe good one\n",
                 user=b)
    assert r.returncode == 0, r.stderr
    good = maildrop(p)[0]
    with open(os.path.join(md, good), "rb") as f:
        real = f.read()
    buid = pwd.getpwnam(b).pw_uid
    cuid = pwd.getpwnam(c).pw_uid

    def plant(name, data, uid):
        path = os.path.join(md, name)
        with open(path, "wb") as f:
            f.write(data)
        os.chown(path, uid, postdrop_group)
        os.chmod(path, 0o644)

    # carol's file claiming to be bob's: the recorded uid is not the owner
    plant("0000000000000001" + "00000001", real, cuid)
    plant("0000000000000001" + "00000002", b"garbage\n" * 100, buid)
    plant("0000000000000001" + "00000003", MAGIC + b"\0" * (2 << 20), buid)
    plant("0000000000000001" + "00000004", real[:len(real) - 12], buid)
    plant("0000000000000001" + "00000005", real + b"more", buid)
    plant("postern-evil", real, buid)
    os.symlink("/etc/passwd", os.path.join(md, "0000000000000001" +
                                           "00000006"))
    p.start()
    p.wait_mbox(a, "the good one")
    wait_for(lambda: not entries(p), what="maildrop empty")
    log = p.log()
    for why in ("recorded uid %d is not the owner's" % buid,
                "not a maildrop file", "00000003: refused (owner uid %d, "
                "2097171 octets): bad open request" % buid,
                "truncated or malformed",
                "data after the end", "cannot open"):
        assert why in log, why
    assert "postern-evil (owner uid %d): not a maildrop file; removed" \
        % buid in log
    assert p.mbox_count(a) == 1
    assert p.master_pid() and p.children("cleanup")
    assert "died" not in log and "panic" not in log
    assert "postern/pickup[" in log


def test_refusals_say_why_and_keep_nothing(make_postern, users,
                                           postdrop_group):
    a, b = users["alice"], users["bob"]
    p = down(make_postern, extra="max_message_size = 10k\n"
             "authorized_submit_users = root, %s\n" % a)
    # not authorized: 77, as when postern runs
    r = sendmail(p, postdrop_group, [a], b"Subject: x\n\nx\n", user=b)
    assert r.returncode == 77 and b"5.7.1" in r.stderr, r.stderr
    # too big: 65
    r = sendmail(p, postdrop_group, [a], b"Subject: big\n\n" +
                 b"y" * 80 + b"\n" * 200 + b"z" * 20000)
    assert r.returncode == 65 and b"552 5.3.4" in r.stderr, r.stderr
    # a config the caller wrote is never read by the setgid postdrop
    bobs = os.path.join(p.base, "bobs")
    os.mkdir(bobs)
    mine = os.path.join(bobs, "mine.conf")
    shutil.copy(p.conf, mine)
    os.chown(bobs, pwd.getpwnam(b).pw_uid, -1)
    os.chown(mine, pwd.getpwnam(b).pw_uid, -1)
    r = sendmail(p, postdrop_group, ["-C", mine, a], b"x\n", user=b)
    assert r.returncode == 75 and b"only root may name another config" \
        in r.stderr, r.stderr
    assert maildrop(p) == [] and entries(p) == []


def as_user(p, user, args, name):
    pw = pwd.getpwnam(user)

    def pre():
        os.setgroups([])
        os.setgid(pw.pw_gid)
        os.setuid(pw.pw_uid)
    return subprocess.run([name] + args, executable=binary(p), env=p.env,
                          capture_output=True, text=True, preexec_fn=pre,
                          timeout=60)


def test_mailq_for_any_user_through_showq(make_postern, users):
    b = users["bob"]
    p = make_postern()
    s = smtplib.SMTP("127.0.0.1", p.port, timeout=20)
    s.sendmail("app@client.test", ["someone@remote.example"],
               "Subject: stuck\r\n\r\nwaits for the smarthost\r\n")
    s.quit()
    qid = wait_for(lambda: p.queue_files("deferred"), what="deferred")[0]
    # bob may not read the queue (0700, nobody's): his mailq asks showq
    r = as_user(p, b, [], "mailq")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("----Queue ID-----")
    assert lines[1].startswith(qid + " ") and "app@client.test" in lines[1]
    assert "refused" in lines[2] and lines[2].strip().startswith("("), lines
    assert lines[3].strip() == "someone@remote.example"
    assert lines[-1] == "-- 0 Kbytes in 1 Request."
    # the same text root reads from the files
    root = subprocess.run(["mailq"], executable=binary(p), env=p.env,
                          capture_output=True, text=True, timeout=60)
    assert root.stdout == r.stdout
    # sendmail -bp and postern queue --json too
    assert as_user(p, b, ["-bp"], "sendmail").stdout == r.stdout
    j = as_user(p, b, ["-c", p.conf, "queue", "--json"], "postern")
    assert j.returncode == 0, j.stderr
    msg = json.loads(j.stdout)
    assert (msg["queue_id"], msg["queue_name"], msg["sender"]) == (
        qid, "deferred", "app@client.test")
    assert "refused" in msg["recipients"][0]["delay_reason"]
    # showq restarts alone (SPEC: restart SERVICE), and serves again
    p.cli("restart", "showq")
    wait_for(lambda: as_user(p, b, [], "mailq").stdout == r.stdout,
             what="showq back")
    # postern down: a clear error, not a listing
    p.stop()
    r = as_user(p, b, [], "mailq")
    assert r.returncode == 1 and "is postern running?" in r.stderr, r.stderr


def pickups(p):
    """pids of the instance's pickup processes (cleanup -s pickup)."""
    out = []
    for pid, _, _ in p.children("cleanup"):
        try:
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                if b"pickup" in f.read().split(b"\0"):
                    out.append(pid)
        except OSError:
            pass
    return out


def dropped_aside(make_postern, users, gid, extra=""):
    """A stopped instance and a maildrop file of bob's to alice, moved
    out of maildrop/: (p, its path there, where it is now)."""
    p = down(make_postern, extra=extra)
    r = sendmail(p, gid, [users["alice"]],
                 b"Subject: late\n\nlate one\n", user=users["bob"])
    assert r.returncode == 0, r.stderr
    name = maildrop(p)[0]
    src = os.path.join(p.queue, "maildrop", name)
    aside = os.path.join(p.base, name)
    os.rename(src, aside)
    return p, src, aside


def test_file_dropped_while_running_is_picked_up_when_poked(
        make_postern, users, postdrop_group):
    """A file that lands while postern runs (sendmail found it down a
    moment before) is fed at once when postdrop pokes public/pickup:
    with maildrop/ empty no pickup ran, and the poke starts one."""
    p, src, aside = dropped_aside(make_postern, users, postdrop_group)
    p.start()
    time.sleep(1.5)     # past master's first ticks
    assert pickups(p) == [] and "postern/pickup[" not in p.log()
    os.rename(aside, src)
    c = socket.socket(socket.AF_UNIX)
    c.connect(os.path.join(p.queue, "public", "pickup"))
    c.close()
    p.wait_mbox(users["alice"], "late one", timeout=10)
    wait_for(lambda: not maildrop(p), what="maildrop empty")


def test_pickup_runs_only_while_maildrop_holds_a_file(
        make_postern, users, postdrop_group):
    """Without a poke, master starts pickup for a file that appears in
    maildrop/ (within its one-second tick), and pickup retires after
    max_idle: none runs at rest."""
    p, src, aside = dropped_aside(make_postern, users, postdrop_group,
                                  extra="max_idle = 2s\n")
    p.start()
    time.sleep(1.5)
    assert pickups(p) == []
    os.rename(aside, src)
    p.wait_mbox(users["alice"], "late one", timeout=10)
    wait_for(lambda: not maildrop(p), what="maildrop empty")
    wait_for(lambda: not pickups(p), 20, what="pickup retired")
    log = p.log()
    assert "postern/pickup[" in log and "retiring" in log
    assert "died" not in log, [ln for ln in log.splitlines()
                               if "died" in ln]


def test_refused_at_pickup_comes_back_to_the_sender(make_postern, users,
                                                   postdrop_group):
    """A well-formed file cleanup refuses for good when it is picked up
    (bob no longer authorized; -t without recipients) is returned to its
    sender by MAILER-DAEMON with the reason, then removed: never lost
    silently."""
    a, b, c = users["alice"], users["bob"], users["carol"]
    p = down(make_postern)
    # bob names carol as the sender: the bounce still goes to bob (the
    # file's owner), never to a sender a refused user chose
    r = sendmail(p, postdrop_group, ["-f", "%s@localhost" % c, a],
                 b"Subject: one\n\nbody one\n", user=b)
    assert r.returncode == 0, r.stderr
    r = sendmail(p, postdrop_group, ["-t", "-f", "%s@localhost" % a],
                 b"Subject: two\n\nno recipients in here\n")
    assert r.returncode == 0, r.stderr
    with open(p.conf) as f:
        conf = f.read()
    with open(p.conf, "w") as f:
        f.write(conf.replace("\n[smtp]", "\nauthorized_submit_users = "
                             "root, %s\n[smtp]" % a, 1))
    p.start()
    box = p.wait_mbox(b, "Undelivered Mail Returned to Sender")
    assert b"5.7.1" in box and b"body one" in box
    assert b"<%s>" % a.encode() in box        # its recipient, named
    assert b"body one" not in p.mbox(c)
    box = p.wait_mbox(a, "no recipients in here")
    assert b"Undelivered Mail Returned to Sender" in box
    assert b"5.5.1 No recipients found in headers" in box
    assert b"Return-Path: <>" in box
    wait_for(lambda: not maildrop(p), what="maildrop empty")
    assert p.log().count("sender non-delivery notification for "
                         "maildrop/") == 2
