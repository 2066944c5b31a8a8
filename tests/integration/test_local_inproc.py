"""Step 7 item 4: local writes a mailbox in its own process, with the
recipient's effective ids (no child per delivery). What must hold: the
mbox and the Maildir land owned by the user with the user's modes, a
path the user may not write is refused as the user (the target left as
it was), the next delivery in the same local process still works, and
after deliveries the process is root again (Uid/Gid 0 0 0 0, Groups as
master's). Users pstlf0..pstlf3 with homes (pstlf0 in two groups) and
groups pstlfga, pstlfgb are created here and removed after."""

import os
import pwd
import shutil
import smtplib
import stat
import subprocess
import tempfile

import pytest

from conftest import IS_ROOT, wait_for
from test_maildir import fresh_homes, users_with_homes

pytestmark = pytest.mark.skipif(not IS_ROOT, reason="needs root (users)")

LF_USERS = ["pstlf%d" % i for i in range(4)]
LF_GROUPS = ["pstlfga", "pstlfgb"]


@pytest.fixture(scope="module")
def homes():
    """pstlf0..3 with homes under a fresh 0755 directory."""
    top = tempfile.mkdtemp(prefix="pstlf-homes-", dir="/tmp")
    os.chmod(top, 0o755)
    groups = []
    for g in LF_GROUPS:     # pstlfga gets the lower gid
        if subprocess.run(["getent", "group", g],
                          capture_output=True).returncode != 0:
            subprocess.run(["groupadd", g], check=True)
            groups.append(g)
    made = users_with_homes(top, LF_USERS)
    # pstlf0: primary group above a supplementary one (getgrouplist's
    # order is not the kernel's sorted one)
    subprocess.run(["usermod", "-g", LF_GROUPS[1], "-G", LF_GROUPS[0],
                    "pstlf0"], check=True)
    yield top
    for u in made:
        subprocess.run(["userdel", u], check=False)
    if "pstlf0" not in made:
        subprocess.run(["usermod", "-g", "users", "-G", "", "pstlf0"],
                       check=False)
    for g in groups:
        subprocess.run(["groupdel", g], check=False)
    shutil.rmtree(top, ignore_errors=True)


def mkdir_as(path, user, mode=0o700):
    os.mkdir(path, mode)
    pw = pwd.getpwnam(user)
    os.chown(path, pw.pw_uid, pw.pw_gid)
    os.chmod(path, mode)


@pytest.fixture
def home(homes):
    """Each test starts with empty homes (0700, owned by the user)."""
    return fresh_homes(homes, LF_USERS)


def send(p, user, text):
    with smtplib.SMTP("127.0.0.1", p.port, timeout=30) as s:
        s.sendmail("sender@client.example", ["%s@localhost" % user],
                   ("Subject: %s\r\n\r\n%s\r\n" % (text, text)).encode())


def start(make_postern, mailbox):
    return make_postern(extra="local_processes = 1\nmailbox = %s\n" %
                        mailbox)


def local_pids(p):
    return sorted(pid for pid, _, _ in p.children("local"))


def status_ids(pid):
    """The Uid, Gid and Groups lines of /proc/PID/status."""
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("Uid", "Gid", "Groups"):
                out[k] = v.split()
    return out


def assert_root_again(p):
    """Every local process is root again, with master's groups."""
    master = status_ids(p.master_pid())
    pids = local_pids(p)
    assert pids
    for pid in pids:
        ids = status_ids(pid)
        assert ids["Uid"] == ["0", "0", "0", "0"], ids
        assert ids["Gid"] == ["0", "0", "0", "0"], ids
        assert ids["Groups"] == master["Groups"], (ids, master)


def owned(path, user, mode):
    st = os.lstat(path)
    pw = pwd.getpwnam(user)
    assert (st.st_uid, st.st_gid) == (pw.pw_uid, pw.pw_gid), path
    assert stat.S_IMODE(st.st_mode) == mode, (path, oct(st.st_mode))


def wait_in(path, text):
    """Wait until text is in the file at path."""
    wait_for(lambda: os.path.exists(path) and
             text.encode() in open(path, "rb").read(), what=path)


def home_mbox(make_postern, home, user, text):
    """An instance delivering to ~/mail/box, and user's first message
    in it: (instance, the mbox path)."""
    mkdir_as(os.path.join(home[user], "mail"), user)
    p = start(make_postern, "mbox:~/mail/box")
    send(p, user, text)
    box = os.path.join(home[user], "mail", "box")
    wait_in(box, text)
    return p, box


def test_mbox_in_home_owned_by_user(make_postern, home):
    p, box = home_mbox(make_postern, home, "pstlf0", "first-in-home")
    owned(box, "pstlf0", 0o600)
    assert open(box, "rb").read().startswith(b"From sender@client.example ")
    assert_root_again(p)


def test_mbox_in_root_spool_given_to_user(make_postern, home):
    spool = tempfile.mkdtemp(prefix="pstlf-spool-", dir="/tmp")
    try:
        os.chmod(spool, 0o755)
        p = start(make_postern, "mbox:%s/%%u" % spool)
        send(p, "pstlf1", "into-spool")
        box = os.path.join(spool, "pstlf1")
        wait_in(box, "into-spool")
        owned(box, "pstlf1", 0o600)
        assert_root_again(p)
    finally:
        shutil.rmtree(spool, ignore_errors=True)


def test_maildir_owned_by_user(make_postern, home):
    p = start(make_postern, "maildir:~/Maildir/")
    send(p, "pstlf0", "into-maildir")
    md = os.path.join(home["pstlf0"], "Maildir")
    new = os.path.join(md, "new")
    wait_for(lambda: os.path.isdir(new) and os.listdir(new), what="new/")
    for sub in ("", "tmp", "new", "cur"):
        owned(os.path.join(md, sub), "pstlf0", 0o700)
    (name,) = os.listdir(new)
    owned(os.path.join(new, name), "pstlf0", 0o600)
    assert b"into-maildir" in open(os.path.join(new, name), "rb").read()
    assert os.listdir(os.path.join(md, "tmp")) == []
    assert_root_again(p)


def test_refused_as_user_then_next_delivery_works(make_postern, home):
    # pstlf1 planted ~/mail -> a root-owned directory with a root-owned
    # 0644 "box" in it: root could append to it (and it is root's, so
    # the owner check would pass for root); the user cannot open it.
    rootdir = tempfile.mkdtemp(prefix="pstlf-root-", dir="/tmp")
    try:
        os.chmod(rootdir, 0o755)
        target = os.path.join(rootdir, "box")
        with open(target, "wb") as f:
            f.write(b"root's own file\n")
        os.chmod(target, 0o644)
        link = os.path.join(home["pstlf1"], "mail")
        os.symlink(rootdir, link)
        pw = pwd.getpwnam("pstlf1")
        os.lchown(link, pw.pw_uid, pw.pw_gid)
        # pstlf2's ~/mail is pstlf3's: pstlf2 may not create a file there
        mkdir_as(os.path.join(home["pstlf2"], "mail"), "pstlf3", 0o755)
        mkdir_as(os.path.join(home["pstlf0"], "mail"), "pstlf0")
        p = start(make_postern, "mbox:~/mail/box")

        send(p, "pstlf1", "planted-link")
        wait_for(lambda: "to=<pstlf1@localhost>" in p.log() and
                 "status=deferred" in p.log(), what="pstlf1 deferred")
        pids = local_pids(p)
        assert len(pids) == 1
        assert open(target, "rb").read() == b"root's own file\n"
        assert stat.S_IMODE(os.stat(target).st_mode) == 0o644
        assert "cannot open mailbox: Permission denied" in p.log()

        send(p, "pstlf2", "no-write-dir")
        wait_for(lambda: "to=<pstlf2@localhost>" in p.log() and
                 p.log().count("status=deferred") >= 2,
                 what="pstlf2 deferred")
        assert os.listdir(os.path.join(home["pstlf2"], "mail")) == []

        send(p, "pstlf0", "after-refusals")
        box = os.path.join(home["pstlf0"], "mail", "box")
        wait_in(box, "after-refusals")
        owned(box, "pstlf0", 0o600)
        assert local_pids(p) == pids, "the same local process delivered"
        assert open(target, "rb").read() == b"root's own file\n"
        assert_root_again(p)
    finally:
        shutil.rmtree(rootdir, ignore_errors=True)


def test_changed_home_seen_at_once(make_postern, home, homes):
    # local caches passwd entries, but never past a change of
    # /etc/passwd: a user moved by usermod gets the next message in
    # the new home.
    p, old = home_mbox(make_postern, home, "pstlf3", "before-move")
    moved = os.path.join(homes, "pstlf3-moved")
    shutil.rmtree(moved, ignore_errors=True)
    mkdir_as(moved, "pstlf3")
    mkdir_as(os.path.join(moved, "mail"), "pstlf3")
    try:
        subprocess.run(["usermod", "-d", moved, "pstlf3"], check=True)
        send(p, "pstlf3", "after-move")
        wait_in(os.path.join(moved, "mail", "box"), "after-move")
        assert b"after-move" not in open(old, "rb").read()
    finally:
        subprocess.run(["usermod", "-d", home["pstlf3"], "pstlf3"],
                       check=True)
        shutil.rmtree(moved, ignore_errors=True)
