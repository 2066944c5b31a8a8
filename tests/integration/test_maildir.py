"""Step 4 local delivery into mailboxes, end to end: Maildir (mailbox =
maildir:PATH/), mailbox_size_limit, the full-disk / read-only / missing
home cases for both mbox and Maildir, and loop safety (Delivered-To,
alias loops, alias depth and fan-out). Users pstmd1 and pstmd2 with real
home directories are created here and removed after."""

import mailbox
import os
import pwd
import re
import shutil
import smtplib
import subprocess
import tempfile
import time

import pytest

from conftest import IS_ROOT, wait_for

pytestmark = pytest.mark.skipif(not IS_ROOT, reason="needs root (users, "
                                "mounts)")

MD_USERS = ["pstmd1", "pstmd2"]
NAME_RE = re.compile(r"^(\d+)\.M(\d{6})P(\d+)Q(\d+)\.([^/:,]+),S=(\d+)$")


def users_with_homes(top, names):
    """The users in names with homes TOP/NAME (not made here), created
    when missing; returns those it created (to userdel after)."""
    made = []
    for u in names:
        home = os.path.join(top, u)
        try:
            pwd.getpwnam(u)
            subprocess.run(["usermod", "-d", home, u], check=True)
        except KeyError:
            subprocess.run(["useradd", "-M", "-N", "-d", home, "-s",
                            "/usr/sbin/nologin", u], check=True)
            made.append(u)
    return made


@pytest.fixture(scope="module")
def homes():
    """pstmd1 and pstmd2 with homes under a fresh 0755 directory."""
    top = tempfile.mkdtemp(prefix="pstmd-homes-", dir="/tmp")
    os.chmod(top, 0o755)
    made = users_with_homes(top, MD_USERS)
    yield top
    for u in made:
        subprocess.run(["userdel", u], check=False)
    shutil.rmtree(top, ignore_errors=True)


def fresh_homes(top, names):
    """Empty homes TOP/NAME (0700, owned by the user): {name: path}."""
    out = {}
    for u in names:
        h = os.path.join(top, u)
        shutil.rmtree(h, ignore_errors=True)
        os.mkdir(h, 0o700)
        pw = pwd.getpwnam(u)
        os.chown(h, pw.pw_uid, pw.pw_gid)
        out[u] = h
    return out


@pytest.fixture
def home(homes):
    """Each test starts with empty homes (0700, owned by the user)."""
    return fresh_homes(homes, MD_USERS)


@pytest.fixture
def mounts():
    """Mount points made by a test, unmounted after whatever happens."""
    made = []

    def mount(path, opts):
        os.makedirs(path, exist_ok=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", path],
                       check=True)
        made.append(path)
        return path
    yield mount
    for path in reversed(made):
        subprocess.run(["umount", "-l", path], check=False)


# "pstmd1: pstmd1" delivers to the user as without it (a name that is its
# own target). It is here because smtpd's RCPT check falls back to the
# alias map: a running smtpd stops reading /etc/passwd once any
# useradd/userdel replaces the file (its Landlock rule names the old
# inode), and other test runs add and remove users every few seconds.
SELF_ALIASES = "".join("%s: %s\n" % (u, u) for u in MD_USERS)


def start(make_postern, box, extra="", aliases=""):
    """A postern with mailbox = box (and extra keys, extra aliases)."""
    p = make_postern(extra=extra, start=False)
    with open(p.conf) as f:
        conf = f.read()
    conf = re.sub(r"(?m)^mailbox = .*$", "mailbox = " + box, conf)
    with open(p.conf, "w") as f:
        f.write(conf)
    with open(os.path.join(p.base, "etc", "aliases"), "a") as f:
        f.write(SELF_ALIASES + aliases)
    p.cli("aliases")
    p.start()
    return p


def send(p, rcpts, body, sender="pstmd2@localhost"):
    s = smtplib.SMTP("127.0.0.1", p.port, timeout=30)
    s.ehlo("client.test")
    s.sendmail(sender, rcpts, body)
    s.quit()


def maildir_files(path, sub="new"):
    try:
        return sorted(os.path.join(path, sub, n)
                      for n in os.listdir(os.path.join(path, sub)))
    except FileNotFoundError:
        return []


def read(path):
    with open(path, "rb") as f:
        return f.read()


def mails(box):
    """Every message's bytes in an mbox file or a Maildir's new/."""
    if os.path.isdir(box):
        return [read(f) for f in maildir_files(box)]
    try:
        data = read(box)
    except FileNotFoundError:
        return []
    return [b"From " + m for m in data.split(b"\n\nFrom ")] if data else []


def wait_mail(box, needle, timeout=30):
    if isinstance(needle, str):
        needle = needle.encode()
    return wait_for(lambda: [m for m in mails(box) if needle in m],
                    timeout, what="%r in %s" % (needle, box))


def queued(p):
    return p.queue_files("deferred") + p.queue_files("active") + \
        p.queue_files("incoming")


BODY = ("Subject: hello maildir\r\nFrom: <pstmd2@localhost>\r\n"
        "Message-ID: <md1@client.test>\r\n\r\n"
        "From the start\r\n>From quoted\r\n.dot-stuffed line\r\nend\r\n")


# ------------------------------------------------------------- Maildir

def test_maildir_delivery_exact_bytes(make_postern, home):
    p = start(make_postern, "maildir:~/Maildir/")
    md = os.path.join(home["pstmd1"], "Maildir")
    send(p, ["pstmd1@localhost"], BODY)
    wait_for(lambda: maildir_files(md), what="a file in new/")
    wait_for(p.queue_empty, what="queue empty")
    [path] = maildir_files(md)
    data = read(path)
    m = NAME_RE.match(os.path.basename(path))
    assert m, path
    assert int(m.group(6)) == len(data) == os.path.getsize(path)
    assert abs(int(m.group(1)) - time.time()) < 120
    assert "/" not in m.group(5) and ":" not in m.group(5)
    # Envelope lines first, no "From " line, no >From quoting, LF ends.
    assert data.startswith(b"Return-Path: <pstmd2@localhost>\n"
                           b"Delivered-To: pstmd1@localhost\n"
                           b"Received: from client.test ")
    assert data.endswith(b"Message-ID: <md1@client.test>\n\n"
                         b"From the start\n>From quoted\n"
                         b".dot-stuffed line\nend\n")
    assert b"\r" not in data
    # Layout: tmp, new, cur 0700, file 0600, all the user's; tmp empty.
    pw = pwd.getpwnam("pstmd1")
    for d in ("", "tmp", "new", "cur"):
        st = os.stat(os.path.join(md, d))
        assert (st.st_uid, st.st_mode & 0o777) == (pw.pw_uid, 0o700), d
    st = os.stat(path)
    assert (st.st_uid, st.st_mode & 0o777) == (pw.pw_uid, 0o600)
    assert maildir_files(md, "tmp") == []
    # A Maildir reader sees it.
    box = mailbox.Maildir(md, factory=None, create=False)
    [msg] = list(box)
    assert msg["Subject"] == "hello maildir"
    assert msg["Delivered-To"] == "pstmd1@localhost"
    assert "status=sent (delivered to mailbox)" in p.log()
    # Dovecot reads it (its size from ",S=") when it is installed.
    if shutil.which("dovecot") and shutil.which("doveadm"):
        out = dovecot_fetch(homes_of(home), "pstmd1",
                            "hdr.subject size.physical")
        assert "hdr.subject: hello maildir" in out, out
        assert "size.physical: %d" % len(data) in out, out


def homes_of(home):
    return os.path.dirname(home["pstmd1"])


def dovecot_fetch(top, user, fields):
    """doveadm fetch of INBOX = ~/Maildir, from a private Dovecot (no
    listeners) started here and stopped by PID."""
    pw = pwd.getpwnam(user)
    d = tempfile.mkdtemp(prefix="dovecot-", dir=top)
    conf = os.path.join(d, "dovecot.conf")
    with open(conf, "w") as f:
        f.write("""base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/log
ssl = no
protocols =
default_internal_user = nobody
default_login_user = nobody
mail_location = maildir:~/Maildir
userdb {{
  driver = static
  args = uid={u} gid={g} home={h}
}}
passdb {{
  driver = static
  args = nopassword=y
}}
""".format(d=d, u=pw.pw_uid, g=pw.pw_gid, h=pw.pw_dir))
    proc = subprocess.Popen(["dovecot", "-c", conf, "-F"],
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        def fetch():
            r = subprocess.run(["doveadm", "-c", conf, "fetch", "-u", user,
                                fields, "mailbox", "INBOX", "all"],
                               capture_output=True, text=True, timeout=30)
            return r.returncode == 0 and r.stdout
        return wait_for(fetch, 20, 0.2, what="doveadm fetch")
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(d, ignore_errors=True)


def test_maildir_absolute_path_unique_names(make_postern, home, homes):
    spool = os.path.join(homes, "spool")
    os.makedirs(spool, exist_ok=True)
    os.chmod(spool, 0o1777)
    p = start(make_postern, "maildir:%s/%%u/" % spool)
    md = os.path.join(spool, "pstmd1")
    for i in range(3):
        send(p, ["pstmd1@localhost"], "Subject: n%d\r\n\r\nbody %d\r\n"
             % (i, i))
    wait_for(lambda: len(maildir_files(md)) == 3, what="3 files in new/")
    names = [os.path.basename(f) for f in maildir_files(md)]
    assert len(set(names)) == 3 and all(NAME_RE.match(n) for n in names)
    assert sorted(m.split(b"body ")[1][:1] for m in mails(md)) == \
        [b"0", b"1", b"2"]
    assert os.stat(md).st_uid == pwd.getpwnam("pstmd1").pw_uid
    shutil.rmtree(spool)


@pytest.mark.parametrize("kind", ["mbox", "maildir"])
def test_root_spool_precreated(make_postern, home, homes, kind):
    """A root-owned spool (users cannot create there): root makes the
    missing mbox file or Maildir directory and gives it to the user, who
    does the rest."""
    spool = os.path.join(homes, "rootspool")
    os.makedirs(spool, exist_ok=True)
    os.chmod(spool, 0o755)
    p = start(make_postern, "%s:%s/%%u%s" % (
        kind, spool, "/" if kind == "maildir" else ""))
    box = os.path.join(spool, "pstmd1")
    send(p, ["pstmd1@localhost"], BODY)
    wait_mail(box, "hello maildir")
    pw = pwd.getpwnam("pstmd1")
    st = os.stat(box)
    assert (st.st_uid, st.st_mode & 0o777) == (
        pw.pw_uid, 0o700 if kind == "maildir" else 0o600)
    if kind == "maildir":
        assert os.stat(maildir_files(box)[0]).st_uid == pw.pw_uid
    shutil.rmtree(spool)


def test_maildir_symlink_defers(make_postern, home, homes):
    """~/Maildir as a symbolic link: never followed, deferred, kept."""
    elsewhere = os.path.join(homes, "elsewhere")
    os.makedirs(elsewhere, exist_ok=True)
    os.chmod(elsewhere, 0o1777)
    os.symlink(elsewhere, os.path.join(home["pstmd1"], "Maildir"))
    p = start(make_postern, "maildir:~/Maildir/")
    send(p, ["pstmd1@localhost"], BODY)
    wait_for(lambda: p.queue_files("deferred"), what="deferred")
    assert os.listdir(elsewhere) == []
    q = p.cli("queue").stdout
    assert "unsafe" in q and "symbolic link" in q, q
    assert re.search(r"to=<pstmd1@localhost>.*status=deferred \(4\.2\.0 "
                     r"maildir .* is unsafe", p.log())
    shutil.rmtree(elsewhere)


# ------------------------------------------------ bad input, both kinds

KINDS = {"mbox": "mbox:~/%s/mbox", "maildir": "maildir:~/%s/Maildir/"}


def box_path(home, kind, sub):
    return os.path.join(home, sub, "mbox" if kind == "mbox" else "Maildir")


@pytest.mark.parametrize("kind", list(KINDS))
def test_missing_home_defers_then_delivers(make_postern, home, kind):
    p = start(make_postern, KINDS[kind] % "mail")
    h = home["pstmd1"]
    pw = pwd.getpwnam("pstmd1")
    os.mkdir(os.path.join(h, "mail"), 0o700)
    os.chown(os.path.join(h, "mail"), pw.pw_uid, pw.pw_gid)
    os.rename(h, h + ".away")
    try:
        send(p, ["pstmd1@localhost"], BODY)
        wait_for(lambda: p.queue_files("deferred"), what="deferred")
        q = p.cli("queue").stdout
        assert "4.3.0 home directory %s of pstmd1: No such file" % h in q, q
        assert "status=deferred (4.3.0 home directory" in p.log()
        assert not os.path.exists(h), "the home was created"
    finally:
        if not os.path.exists(h):
            os.rename(h + ".away", h)
    p.cli("queue", "flush")
    wait_mail(box_path(h, kind, "mail"), "hello maildir")
    wait_for(p.queue_empty, what="queue empty")


@pytest.mark.parametrize("kind", list(KINDS))
def test_read_only_fs_defers_then_delivers(make_postern, home, mounts, kind):
    h = home["pstmd1"]
    mounts(os.path.join(h, "ro"), "ro,size=1m,mode=0755")
    p = start(make_postern, KINDS[kind] % "ro")
    send(p, ["pstmd1@localhost"], BODY)
    wait_for(lambda: p.queue_files("deferred"), what="deferred")
    q = p.cli("queue").stdout
    assert "Read-only file system" in q and "4.2.0" in q, q
    assert re.search(r"status=deferred \(4\.2\.0 .*Read-only file system",
                     p.log())
    unmount_and_flush(p, h, "ro", kind, "hello maildir")


def unmount_and_flush(p, h, sub, kind, needle):
    """The mount at ~/SUB gone (a plain directory of the user's again),
    the kept message is delivered whole on a flush."""
    subprocess.run(["umount", os.path.join(h, sub)], check=True)
    pw = pwd.getpwnam("pstmd1")
    os.chown(os.path.join(h, sub), pw.pw_uid, pw.pw_gid)
    p.cli("queue", "flush")
    [m] = wait_mail(box_path(h, kind, sub), needle)
    wait_for(p.queue_empty, what="queue empty")
    return m


@pytest.mark.parametrize("kind", list(KINDS))
def test_full_disk_defers_nothing_partial(make_postern, home, mounts, kind):
    h = home["pstmd1"]
    pw = pwd.getpwnam("pstmd1")
    mounts(os.path.join(h, "small"), "size=64k,mode=0700,uid=%d,gid=%d"
           % (pw.pw_uid, pw.pw_gid))
    p = start(make_postern, KINDS[kind] % "small")
    box = box_path(h, kind, "small")
    send(p, ["pstmd1@localhost"], "Subject: small one\r\n\r\nfits\r\n")
    wait_mail(box, "small one")
    before = [(f, read(f)) for f in maildir_files(box)] \
        if kind == "maildir" else read(box)
    big = "Subject: too big\r\n\r\n" + ("x" * 70 + "\r\n") * 3000
    send(p, ["pstmd1@localhost"], big)
    wait_for(lambda: p.queue_files("deferred"), what="deferred")
    q = p.cli("queue").stdout
    assert "4.3.1 Insufficient system storage" in q, q
    assert "status=deferred (4.3.1 Insufficient system storage)" in p.log()
    if kind == "maildir":
        assert [(f, read(f)) for f in maildir_files(box)] == before
        assert maildir_files(box, "tmp") == []
    else:
        assert read(box) == before
    # Room again (the mount gone): the kept message arrives whole.
    m = unmount_and_flush(p, h, "small", kind, "too big")
    assert m.count(b"x" * 70 + b"\n") == 3000


# --------------------------------------------------- mailbox_size_limit

def dsn_for(box, needle):
    """The bounce in box whose text has needle."""
    return wait_mail(box, needle)[0]


def test_size_limit_mbox_bounces_and_keeps_mbox(make_postern, home):
    p = start(make_postern, "mbox:~/mbox", extra="mailbox_size_limit = 4k")
    box1 = os.path.join(home["pstmd1"], "mbox")
    box2 = os.path.join(home["pstmd2"], "mbox")
    send(p, ["pstmd1@localhost"], "Subject: first\r\n\r\n" +
         ("a" * 499 + "\r\n") * 3)
    wait_mail(box1, "Subject: first")
    before = read(box1)
    send(p, ["pstmd1@localhost"], "Subject: second\r\n\r\n" +
         ("b" * 499 + "\r\n") * 5)
    d = dsn_for(box2, "Undelivered Mail Returned")
    assert b"Status: 5.2.2" in d
    assert b"mailbox full" in d and b"4096" in d
    assert read(box1) == before
    assert re.search(r"to=<pstmd1@localhost>.*status=bounced \(5\.2\.2 "
                     r"mailbox full", p.log())
    # A message that still fits goes in.
    send(p, ["pstmd1@localhost"], "Subject: third\r\n\r\nshort\r\n")
    wait_mail(box1, "Subject: third")
    wait_for(p.queue_empty, what="queue empty")


def test_size_limit_maildir_per_message(make_postern, home, peer_factory):
    """Maildir: the limit bounds each message file (as Postfix), not the
    sum of the directory. The bounce (which holds the message, so it is
    larger than the limit too) goes to a remote sender, the peer."""
    p = start(make_postern, "maildir:~/Maildir/",
              extra="mailbox_size_limit = 4k")
    peer = peer_factory(p.smarthost_port)
    md1 = os.path.join(home["pstmd1"], "Maildir")
    for i in range(3):
        send(p, ["pstmd1@localhost"], "Subject: fits %d\r\n\r\n%s"
             % (i, ("c" * 499 + "\r\n") * 5))
    wait_for(lambda: len(maildir_files(md1)) == 3, what="3 messages")
    send(p, ["pstmd1@localhost"], "Subject: huge\r\n\r\n" +
         ("d" * 499 + "\r\n") * 10, sender="far@remote.example")
    wait_for(lambda: peer.messages, what="the bounce at the peer")
    frm, rcpts, d = peer.messages[0]
    assert frm == "<>" and rcpts == ["far@remote.example"]
    assert b"Status: 5.2.2" in d and b"larger than mailbox_size_limit" in d
    assert len(maildir_files(md1)) == 3
    assert maildir_files(md1, "tmp") == []
    assert re.search(r"to=<pstmd1@localhost>.*status=bounced \(5\.2\.2 "
                     r"mailbox full", p.log())


def test_size_limit_zero_is_none(make_postern, home):
    p = start(make_postern, "maildir:~/Maildir/",
              extra="mailbox_size_limit = 0")
    md1 = os.path.join(home["pstmd1"], "Maildir")
    send(p, ["pstmd1@localhost"], "Subject: big\r\n\r\n" +
         ("e" * 990 + "\r\n") * 2000)
    [m] = wait_mail(md1, "Subject: big")
    assert len(m) > 2000 * 991


# ---------------------------------------------------------- loop safety

DT_VARIANTS = {
    "plain-middle": "Subject: x\r\nDelivered-To: pstmd1@localhost\r\n"
                    "X-Other: y\r\n",
    "folded": "Subject: x\r\nDelivered-To:\r\n  <pstmd1@localhost>\r\n",
    "upper-case": "DELIVERED-TO: PSTMD1@LOCALHOST\r\nSubject: x\r\n",
}


@pytest.mark.parametrize("kind", ["mbox", "maildir"])
@pytest.mark.parametrize("variant", list(DT_VARIANTS))
def test_delivered_to_loop_bounces(make_postern, home, kind, variant):
    p = start(make_postern, "mbox:~/mbox" if kind == "mbox" else
              "maildir:~/Maildir/")
    box1 = box_path(home["pstmd1"], kind, "")
    box2 = box_path(home["pstmd2"], kind, "")
    send(p, ["pstmd1@localhost"], DT_VARIANTS[variant] +
         "\r\nlooping body\r\n")
    d = dsn_for(box2, "Undelivered Mail Returned")
    assert b"Status: 5.4.6" in d
    assert b"mail forwarding loop for pstmd1@localhost" in d
    assert mails(box1) == []
    # The same line in the body, or for someone else, is no loop.
    send(p, ["pstmd1@localhost"], "Subject: y\r\nDelivered-To: "
         "other@localhost\r\n\r\nDelivered-To: pstmd1@localhost\r\n")
    wait_mail(box1, "Subject: y")


def test_delivered_to_loop_through_alias(make_postern, home):
    """The check holds for each alias target too: mail to an alias that
    already went through pstmd1 once does not reach pstmd1 again."""
    p = start(make_postern, "maildir:~/Maildir/",
              aliases="mdlist: pstmd1\n")
    send(p, ["mdlist@localhost"], "Delivered-To: pstmd1@localhost\r\n"
         "Subject: back again\r\n\r\nlooped\r\n")
    d = dsn_for(os.path.join(home["pstmd2"], "Maildir"),
                "Undelivered Mail Returned")
    assert b"Status: 5.4.6" in d
    assert b"mail forwarding loop for pstmd1@localhost" in d
    assert mails(os.path.join(home["pstmd1"], "Maildir")) == []


def test_alias_loop_bounces_with_text(make_postern, home):
    p = start(make_postern, "maildir:~/Maildir/",
              aliases="mda: mdb\nmdb: mda\n")
    send(p, ["mda@localhost"], "Subject: loopy\r\n\r\nround\r\n")
    d = dsn_for(os.path.join(home["pstmd2"], "Maildir"),
                "Undelivered Mail Returned")
    assert b"Status: 5.4.6" in d and b"alias loop" in d
    assert b"mda@localhost" in d


def test_alias_depth_bound(make_postern, home):
    chain = "".join("deep%d: deep%d\n" % (i, i + 1) for i in range(25))
    chain += "deep25: pstmd1\n"
    chain += "".join("near%d: near%d\n" % (i, i + 1) for i in range(10))
    chain += "near10: pstmd1\n"
    p = start(make_postern, "maildir:~/Maildir/", aliases=chain)
    send(p, ["near0@localhost"], "Subject: near\r\n\r\nten deep\r\n")
    wait_mail(os.path.join(home["pstmd1"], "Maildir"), "Subject: near")
    send(p, ["deep0@localhost"], "Subject: deep\r\n\r\ntoo deep\r\n")
    d = dsn_for(os.path.join(home["pstmd2"], "Maildir"),
                "Undelivered Mail Returned")
    assert b"Status: 5.4.6" in d and b"nested more than 20" in d
    assert [m for m in mails(os.path.join(home["pstmd1"], "Maildir"))
            if b"too deep" in m] == []


def test_alias_fanout_bound(make_postern, home, peer_factory):
    # an unknown user first: the bound is still the reason given
    wide = "nosuchmduser, " + ", ".join("w%d@remote.example" % i
                                        for i in range(1001))
    ok = ", ".join("k%d@remote.example" % i for i in range(5))
    p = start(make_postern, "maildir:~/Maildir/",
              aliases="wide: %s\nfive: %s, pstmd1\n" % (wide, ok))
    peer = peer_factory(p.smarthost_port)
    send(p, ["wide@localhost"], "Subject: wide\r\n\r\nto everyone\r\n")
    d = dsn_for(os.path.join(home["pstmd2"], "Maildir"),
                "Undelivered Mail Returned")
    assert b"Status: 5.4.6" in d
    assert b"alias expands to more than 1000 targets" in d
    # All or nothing: not the first 1000 either.
    send(p, ["five@localhost"], "Subject: five\r\n\r\nto five\r\n")
    wait_for(lambda: peer.messages, what="the five forwarded")
    wait_mail(os.path.join(home["pstmd1"], "Maildir"), "Subject: five")
    wait_for(p.queue_empty, what="queue empty")
    assert len(peer.messages) == 1
    assert sorted(peer.messages[0][1]) == sorted(
        "k%d@remote.example" % i for i in range(5))
