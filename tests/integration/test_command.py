"""Local delivery through commands, files, :include: and ~/.forward (SPEC
section 9, step 4 items 2-4): the real procmail, real users with real
home directories (pstcmd1-3, made and removed here), and for each identity
rule the uid that actually ran (a command writes `id -u` to a file)."""

import os
import pwd
import shutil
import smtplib
import subprocess
import tempfile
import time

import pytest

from conftest import IS_ROOT, wait_for

pytestmark = pytest.mark.skipif(not IS_ROOT, reason="needs root (users)")

CMD_USERS = ["pstcmd1", "pstcmd2", "pstcmd3"]
NOBODY = pwd.getpwnam("nobody").pw_uid if IS_ROOT else None


def ensure_users():
    """Our users with real homes (0755); made again when missing (a
    parallel run editing /etc/passwd at the same moment has been seen to
    lose users). Returns the ones made."""
    made = []
    for u in CMD_USERS:
        try:
            pwd.getpwnam(u)
            continue
        except KeyError:
            pass
        home = "/home/" + u
        subprocess.run(["useradd", "-M" if os.path.isdir(home) else "-m",
                        "-d", home, "-s", "/bin/sh", u], check=True,
                       capture_output=True)
        pw = pwd.getpwnam(u)
        os.chown(home, pw.pw_uid, pw.pw_gid)
        made.append(u)
    for u in CMD_USERS:
        os.chmod("/home/" + u, 0o755)
    return made


@pytest.fixture(scope="module")
def cmd_module():
    """The users for this module, and a scratch directory every identity
    may write (1777); all removed after."""
    made = set(ensure_users())
    out = tempfile.mkdtemp(prefix="pstcmd-", dir="/tmp")
    os.chmod(out, 0o1777)
    yield made, out
    for u in CMD_USERS:
        if u in made:
            subprocess.run(["userdel", "-r", u], check=False,
                           capture_output=True)
    shutil.rmtree(out, ignore_errors=True)


@pytest.fixture
def cmdusers(cmd_module):
    """Before each test: our users exist, their homes hold no dot files of
    ours. Gives ({name: passwd entry}, out)."""
    made, out = cmd_module
    made.update(ensure_users())
    pws = {u: pwd.getpwnam(u) for u in CMD_USERS}
    for pw in pws.values():
        for name in (".forward", ".procmailrc", "Mail"):
            p = os.path.join(pw.pw_dir, name)
            if os.path.isdir(p) and not os.path.islink(p):
                shutil.rmtree(p)
            elif os.path.lexists(p):
                os.unlink(p)
    return pws, out


def put(path, text, owner=None, mode=0o644):
    with open(path, "w") as f:
        f.write(text)
    if owner is not None:
        os.chown(path, owner.pw_uid, owner.pw_gid)
    os.chmod(path, mode)


def start(make_postern, extra="", aliases=""):
    """A postern whose aliases file has our lines too (and no root alias:
    root is the system user here)."""
    p = make_postern(extra=extra, start=False)
    path = os.path.join(p.base, "etc", "aliases")
    with open(path) as f:
        lines = [ln for ln in f if not ln.startswith("root:")]
    with open(path, "w") as f:
        f.write("".join(lines) + aliases)
    p.cli("aliases")
    p.start()
    return p


def send(p, rcpt, subject="hello", body="the body\r\n",
         sender="sender@client.test"):
    """Send over SMTP. Not this feature: smtpd's Landlock rule is on the
    /etc/passwd it started with, and a useradd/userdel by a parallel run
    replaces that file, so a user that exists can get "User unknown";
    then smtpd is restarted and the message sent again (at most twice)."""
    msg = "Subject: %s\r\n\r\n%s" % (subject, body)
    for attempt in range(3):
        s = smtplib.SMTP("127.0.0.1", p.port, timeout=20)
        s.ehlo("client.test")
        try:
            s.sendmail(sender, [rcpt], msg)
            s.quit()
            return
        except smtplib.SMTPRecipientsRefused as e:
            s.close()
            if attempt == 2 or not all(b"User unknown" in r[1] for r in
                                       e.recipients.values()):
                raise
        p.cli("restart", "smtp")
        wait_for(lambda: p.port_open(p.port), what="smtp port")
        time.sleep(0.5)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def wait_file(path, needle=b"", timeout=20):
    def ok():
        try:
            data = read(path)
        except FileNotFoundError:
            return None
        return data if needle in data else None
    return wait_for(ok, timeout, what="%r in %s" % (needle, path))


def wait_uid(path, timeout=20):
    return int(wait_file(path, b"\n", timeout).decode().split()[0])


def deferred_reason(p):
    ids = wait_for(lambda: p.queue_files("deferred"), what="deferred")
    out = p.cli("queue").stdout
    return ids, out


# ------------------------------------------------------ mailbox_command

PROCMAIL = "mailbox_command = /usr/bin/procmail -t -Y -a $EXTENSION -d $USER\n"


def test_procmail_files_into_folder(make_postern, users, cmdusers):
    pws, _ = cmdusers
    pw = pws["pstcmd1"]
    os.mkdir(os.path.join(pw.pw_dir, "Mail"))
    os.chown(os.path.join(pw.pw_dir, "Mail"), pw.pw_uid, pw.pw_gid)
    put(os.path.join(pw.pw_dir, ".procmailrc"),
        "MAILDIR=$HOME/Mail\nARG=$1\n"
        ":0:\n* ARG ?? ^^lists^^\nlists\n"
        ":0:\n* ^Subject:.*procme\nfiled\n", owner=pw)
    p = start(make_postern, PROCMAIL)
    send(p, "pstcmd1@localhost", "procme please", "From the start\r\n")
    box = wait_file(os.path.join(pw.pw_dir, "Mail", "filed"), b"procme")
    assert box.startswith(b"From sender@client.test ")
    assert b"Return-Path: <sender@client.test>" in box
    assert b"Delivered-To: pstcmd1@localhost" in box
    assert b"\n>From the start" in box     # procmail's own quoting
    assert os.stat(os.path.join(pw.pw_dir, "Mail", "filed")).st_uid == \
        pw.pw_uid
    # $EXTENSION reaches procmail's -a: the +lists mail goes to "lists".
    send(p, "pstcmd1+lists@localhost", "a list post")
    lists = wait_file(os.path.join(pw.pw_dir, "Mail", "lists"), b"list post")
    assert b"Delivered-To: pstcmd1+lists@localhost" in lists
    wait_for(lambda: "delivered to command" in p.log(), what="log")
    assert p.mbox("pstcmd1") == b""       # nothing in the mbox spool


def test_procmail_tempfail_defers_then_delivers(make_postern, users,
                                                cmdusers):
    pws, _ = cmdusers
    pw = pws["pstcmd2"]
    rc = os.path.join(pw.pw_dir, ".procmailrc")
    put(rc, "EXITCODE=75\n:0\n/dev/null\n", owner=pw)
    p = start(make_postern, PROCMAIL)
    send(p, "pstcmd2@localhost", "try again")
    ids, q = deferred_reason(p)
    assert "command exit status 75" in q
    assert "4.3.0" in p.log() and "status=deferred" in p.log()
    os.mkdir(os.path.join(pw.pw_dir, "Mail"))
    os.chown(os.path.join(pw.pw_dir, "Mail"), pw.pw_uid, pw.pw_gid)
    put(rc, "MAILDIR=$HOME/Mail\n:0:\ninbox\n", owner=pw)
    p.cli("queue", "flush")
    wait_file(os.path.join(pw.pw_dir, "Mail", "inbox"), b"try again")
    wait_for(p.queue_empty, what="queue empty")


def test_mailbox_command_identity_and_environment(make_postern, users,
                                                  cmdusers):
    """Root's mail runs as nobody; a user's as the user; the environment is
    exactly ours; the message comes with a From line first."""
    pws, out = cmdusers
    script = os.path.join(out, "record.sh")
    put(script, "#!/bin/sh\nd=%s/rec-$USER\nmkdir -p $d\n"
        "id -u > $d/uid.tmp && mv $d/uid.tmp $d/uid\nenv > $d/env\n"
        "pwd > $d/cwd\ncat > $d/msg\n" % out, mode=0o755)
    p = start(make_postern, "mailbox_command = %s\n" % script)
    send(p, "root@localhost", "for root")
    send(p, "pstcmd1+ext@test.example", "for one")
    assert wait_uid(os.path.join(out, "rec-root", "uid")) == NOBODY
    d = os.path.join(out, "rec-pstcmd1")
    assert wait_uid(os.path.join(d, "uid")) == pws["pstcmd1"].pw_uid
    wait_file(os.path.join(d, "msg"), b"for one")
    env = dict(ln.split("=", 1) for ln in
               read(os.path.join(d, "env")).decode().splitlines())
    assert env["USER"] == env["LOGNAME"] == "pstcmd1"
    assert env["HOME"] == "/home/pstcmd1"
    assert env["SENDER"] == "sender@client.test"
    assert env["RECIPIENT"] == "pstcmd1+ext@test.example"
    assert env["EXTENSION"] == "ext" and env["DOMAIN"] == "test.example"
    assert env["SHELL"] == "/bin/sh" and "PATH" in env
    # nothing inherited (the shell adds PWD itself)
    assert set(env) - {"PWD", "SHLVL", "_", "OLDPWD"} == {
        "USER", "LOGNAME", "HOME", "SENDER", "RECIPIENT", "EXTENSION",
        "DOMAIN", "PATH", "SHELL"}
    assert wait_file(os.path.join(d, "cwd"), b"\n").strip() == \
        b"/home/pstcmd1"
    msg = read(os.path.join(d, "msg"))
    assert msg.startswith(b"From sender@client.test ")
    assert b"\nDelivered-To: pstcmd1+ext@test.example\n" in msg
    # root's home is not nobody's to enter: cwd falls back to /
    # (written after uid and env by the script: wait for it too)
    assert wait_file(os.path.join(out, "rec-root", "cwd"),
                     b"\n").strip() == b"/"


# ------------------------------------------------ exit status, bad input

def test_command_failure_bounces_with_its_last_line(make_postern, users,
                                                    cmdusers):
    alice = users["alice"]
    p = start(make_postern, aliases=(
        "failer: |echo some noise; echo 'no such list here' >&2; exit 1\n"
        "absent: |/no/such/program\n"))
    send(p, "failer@localhost", "doomed", sender="%s@localhost" % alice)
    box = p.wait_mbox(alice, b"Undelivered Mail Returned")
    assert b"Status: 5.3.0" in box
    assert b"command exit status 1: no such list here" in box
    assert b"some noise" not in box
    wait_for(p.queue_empty, what="queue empty")


def test_hanging_command_is_killed_and_deferred(make_postern, users,
                                                cmdusers):
    _, out = cmdusers
    tag = "31%d" % (os.getpid() % 1000)
    p = start(make_postern, "command_time_limit = 2s\n", aliases=(
        "hang: |sleep %s1 & sleep %s2\n" % (tag, tag)))
    t0 = time.time()
    send(p, "hang@localhost", "hangs")
    ids, q = deferred_reason(p)
    took = time.time() - t0
    assert 2 <= took < 15, took
    assert "time limit" in q

    def alive():
        left = []
        for pid in os.listdir("/proc"):
            try:
                cmd = read("/proc/%s/cmdline" % pid)
            except (FileNotFoundError, ProcessLookupError, NotADirectoryError,
                    PermissionError):
                continue
            if tag.encode() in cmd and b"sleep" in cmd:
                left.append(pid)
        return left
    # both the command and its background child (the process group)
    wait_for(lambda: not alive(), timeout=5, what="sleeps killed")


def test_megabytes_of_output_are_read_and_cut(make_postern, users, cmdusers):
    alice = users["alice"]
    p = start(make_postern, aliases=(
        "chatty: |head -c 10000000 /dev/zero | tr '\\0' x; echo; "
        "echo last words; exit 2\n"))
    t0 = time.time()
    send(p, "chatty@localhost", "talkative", sender="%s@localhost" % alice)
    box = p.wait_mbox(alice, b"Undelivered Mail Returned", timeout=60)
    assert b"command exit status 2: last words" in box
    assert len(box) < 100000
    assert "output of command as nobody cut: 10000012 bytes" in p.log()
    print("10 MB of output handled in %.1fs" % (time.time() - t0))


# --------------------------------------------------- alias identities

def test_alias_command_runs_as_nobody(make_postern, users, cmdusers):
    _, out = cmdusers
    p = start(make_postern, aliases=(
        "cmdalias: \"|id -u > %s/alias.uid; cat > %s/alias.msg\"\n"
        % (out, out)))
    send(p, "cmdalias@localhost", "to a command")
    assert wait_uid(os.path.join(out, "alias.uid")) == NOBODY
    msg = wait_file(os.path.join(out, "alias.msg"), b"to a command")
    assert msg.startswith(b"From sender@client.test ")
    wait_for(lambda: "delivered to command" in p.log(), what="log")


def test_alias_file_as_nobody(make_postern, users, cmdusers):
    _, out = cmdusers
    alice = users["alice"]
    rootdir = os.path.join(out, "rootdir")
    nbdir = os.path.join(out, "nbdir")
    for d in (rootdir, nbdir):
        os.makedirs(d, exist_ok=True)
        os.chmod(d, 0o755)
    os.chown(nbdir, NOBODY, -1)
    target = os.path.join(nbdir, "real")
    put(target, "old\n", owner=pwd.getpwnam("nobody"), mode=0o600)
    os.symlink(target, os.path.join(nbdir, "link"))
    p = start(make_postern, aliases=(
        "tofile: %s/file\nrootfile: %s/file\nlinkfile: %s/link\n"
        % (nbdir, rootdir, nbdir)))
    send(p, "tofile@localhost", "into a file", "From here on\r\n")
    box = wait_file(os.path.join(nbdir, "file"), b"into a file")
    st = os.stat(os.path.join(nbdir, "file"))
    assert st.st_uid == NOBODY and st.st_mode & 0o777 == 0o600
    assert box.startswith(b"From sender@client.test ")
    assert b"\n>From here on\n" in box and box.endswith(b"\n\n")
    # nobody cannot create a file in a root-owned directory: bounce
    send(p, "rootfile@localhost", "nowhere", sender="%s@localhost" % alice)
    b1 = p.wait_mbox(alice, b"Undelivered Mail Returned")
    assert b"5.7.1" in b1 and b"Permission denied" in b1
    assert not os.path.exists(os.path.join(rootdir, "file"))
    # a symbolic link is never followed
    send(p, "linkfile@localhost", "via link", sender="%s@localhost" % alice)
    wait_for(lambda: b"is a symbolic link" in p.mbox(alice), what="bounce")
    assert read(target) == b"old\n"


def test_include_runs_as_its_owner(make_postern, users, cmdusers):
    pws, out = cmdusers
    inc = os.path.join(out, "list.inc")
    put(inc, "# the list\n\"|id -u > %s/inc.uid\"\npstcmd3\n" % out,
        owner=pws["pstcmd2"])
    p = start(make_postern, aliases="incl: :include:%s\n" % inc)
    send(p, "incl@localhost", "included")
    assert wait_uid(os.path.join(out, "inc.uid")) == pws["pstcmd2"].pw_uid
    p.wait_mbox("pstcmd3", b"included")
    # a group-writable list is not used: deferred with a reason
    os.chmod(inc, 0o664)
    send(p, "incl@localhost", "unsafe list")
    ids, q = deferred_reason(p)
    assert "cannot use an :include: file" in q
    assert "group or world writable" in p.log()


# ------------------------------------------------------------ .forward

def test_forward_command_runs_as_user_and_backslash_keeps_copy(
        make_postern, users, cmdusers):
    pws, out = cmdusers
    pw = pws["pstcmd1"]
    put(os.path.join(pw.pw_dir, ".forward"),
        "\\pstcmd1, \"|id -u > %s/fwd.uid\"\n%s/fwd.file\n" % (out, out),
        owner=pw)
    p = start(make_postern)
    send(p, "pstcmd1@localhost", "forwarded")
    assert wait_uid(os.path.join(out, "fwd.uid")) == pw.pw_uid
    p.wait_mbox("pstcmd1", b"forwarded")
    wait_file(os.path.join(out, "fwd.file"), b"forwarded")
    assert os.stat(os.path.join(out, "fwd.file")).st_uid == pw.pw_uid
    wait_for(p.queue_empty, what="queue empty")
    assert p.mbox_count("pstcmd1") == 1


def test_forward_to_another_user(make_postern, users, cmdusers):
    pws, _ = cmdusers
    put(os.path.join(pws["pstcmd2"].pw_dir, ".forward"), "pstcmd3\n",
        owner=pws["pstcmd2"])
    p = start(make_postern)
    send(p, "pstcmd2@localhost", "passed on")
    p.wait_mbox("pstcmd3", b"passed on")
    assert p.mbox("pstcmd2") == b""


def test_unsafe_forward_is_ignored_with_a_log_line(make_postern, users,
                                                   cmdusers):
    pws, out = cmdusers
    pw = pws["pstcmd3"]
    put(os.path.join(pw.pw_dir, ".forward"),
        "\"|id -u > %s/unsafe.uid\"\n" % out, owner=pw, mode=0o664)
    p = start(make_postern)
    send(p, "pstcmd3@localhost", "stays home")
    p.wait_mbox("pstcmd3", b"stays home")
    assert "~pstcmd3/.forward ignored" in p.log()
    assert "group or world writable" in p.log()
    assert not os.path.exists(os.path.join(out, "unsafe.uid"))
    # owned by another user: ignored too
    put(os.path.join(pw.pw_dir, ".forward"), "pstcmd1\n",
        owner=pws["pstcmd2"])
    send(p, "pstcmd3@localhost", "still home")
    p.wait_mbox("pstcmd3", b"still home")
    assert "wrong owner" in p.log()
    assert p.mbox("pstcmd1") == b""
    # in a home others may write: ignored
    put(os.path.join(pw.pw_dir, ".forward"), "pstcmd1\n", owner=pw)
    os.chmod(pw.pw_dir, 0o777)
    try:
        send(p, "pstcmd3@localhost", "home again")
        p.wait_mbox("pstcmd3", b"home again")
    finally:
        os.chmod(pw.pw_dir, 0o755)
    assert "writable by others" in p.log()
    assert p.mbox("pstcmd1") == b""


def test_unreadable_forward_defers(make_postern, users, cmdusers):
    pws, _ = cmdusers
    pw = pws["pstcmd2"]
    fwd = os.path.join(pw.pw_dir, ".forward")
    put(fwd, "pstcmd3\n", owner=pw, mode=0o000)
    p = start(make_postern)
    send(p, "pstcmd2@localhost", "wait for it")
    ids, q = deferred_reason(p)
    assert "cannot read the recipient's .forward" in q
    assert "Permission denied" in p.log()
    assert p.mbox("pstcmd2") == b"" and p.mbox("pstcmd3") == b""
    os.chmod(fwd, 0o644)
    p.cli("queue", "flush")
    p.wait_mbox("pstcmd3", b"wait for it")


def test_forward_files_off(make_postern, users, cmdusers):
    pws, _ = cmdusers
    put(os.path.join(pws["pstcmd1"].pw_dir, ".forward"), "pstcmd3\n",
        owner=pws["pstcmd1"])
    p = start(make_postern, "allow_forward_files = no\n")
    send(p, "pstcmd1@localhost", "no forwarding")
    p.wait_mbox("pstcmd1", b"no forwarding")
    assert p.mbox("pstcmd3") == b""


def test_forward_loop_between_users_bounces(make_postern, users, cmdusers):
    pws, _ = cmdusers
    alice = users["alice"]
    put(os.path.join(pws["pstcmd1"].pw_dir, ".forward"), "pstcmd2\n",
        owner=pws["pstcmd1"])
    put(os.path.join(pws["pstcmd2"].pw_dir, ".forward"), "pstcmd1\n",
        owner=pws["pstcmd2"])
    p = start(make_postern)
    send(p, "pstcmd1@localhost", "round", sender="%s@localhost" % alice)
    box = p.wait_mbox(alice, b"Undelivered Mail Returned")
    assert b"5.4.6" in box and b"alias loop" in box
    assert p.mbox("pstcmd1") == b"" and p.mbox("pstcmd2") == b""


def test_lists_naming_lists_are_bounded(make_postern, users, cmdusers):
    """Include files that name include files cannot multiply the work:
    at most 100 .forward and :include: files per recipient."""
    pws, out = cmdusers
    alice = users["alice"]
    leaf = os.path.join(out, "leaf.inc")
    fan = os.path.join(out, "fan.inc")
    put(leaf, "pstcmd3\n", owner=pws["pstcmd2"])
    put(fan, "".join(":include:%s\n" % leaf for _ in range(150)),
        owner=pws["pstcmd2"])
    p = start(make_postern, aliases="fan: :include:%s\n" % fan)
    send(p, "fan@localhost", "fan out", sender="%s@localhost" % alice)
    box = p.wait_mbox(alice, b"Undelivered Mail Returned")
    assert b"5.4.6 too many :include: and .forward files" in box


def test_no_commands_for_an_account_without_a_shell(make_postern, users,
                                                    cmdusers):
    """Sendmail's rule: a list owned by a user whose shell is not in
    /etc/shells (nologin: a system account) may not run programs or write
    files; its addresses still work."""
    pws, out = cmdusers
    alice = users["alice"]          # shell /usr/sbin/nologin
    inc = os.path.join(out, "sys.inc")
    put(inc, "\"|id -u > %s/sys.uid\"\npstcmd3\n" % out,
        owner=pwd.getpwnam(alice))
    p = start(make_postern, aliases="sys: :include:%s\n" % inc)
    send(p, "sys@localhost", "system list", sender="%s@localhost" % alice)
    box = p.wait_mbox(alice, b"Undelivered Mail Returned")
    assert b"has no valid shell for commands and files" in box
    p.wait_mbox("pstcmd3", b"system list")
    assert not os.path.exists(os.path.join(out, "sys.uid"))


def test_forward_elsewhere_and_a_command_that_reads_nothing(
        make_postern, peer_factory, users, cmdusers):
    """A .forward address elsewhere goes out through the smarthost with
    Delivered-To; a command that exits without reading its 2 MB of input
    has still delivered (its closed pipe is no error)."""
    pws, _ = cmdusers
    pw = pws["pstcmd1"]
    put(os.path.join(pw.pw_dir, ".forward"), "away@remote.example\n",
        owner=pw)
    p = start(make_postern, aliases="quiet: |exit 0\n")
    peer = peer_factory(p.smarthost_port)
    send(p, "pstcmd1@localhost", "gone away")
    wait_for(lambda: peer.messages, what="forwarded")
    sender, rcpts, data = peer.messages[0]
    assert rcpts == ["away@remote.example"]
    assert sender == "sender@client.test"
    assert b"Delivered-To: pstcmd1@localhost" in data
    send(p, "quiet@localhost", "big", "x" * 998 + "\r\n" * 1
         + ("y" * 998 + "\r\n") * 2100)
    wait_for(lambda: "delivered to command exit 0" in p.log(), what="log")
    wait_for(p.queue_empty, what="queue empty")
