"""The Debian package (debian/, `make deb`): built once, then installed
with apt into a throwaway root, started as its systemd unit starts it,
given mail on 127.0.0.1:25 and by sendmail, removed and purged. The root
is an overlay on / (changes in a tmpfs) in its own mount, network and
pid namespaces: apt there removes postfix, which the package conflicts
with, while the real system's postfix and users are never touched."""
import os
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

from conftest import IS_ROOT, wait_for

SRC = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
USER = "pstdeb1"
SPOOL = "/var/spool/postern"
POSTDROP = "/usr/libexec/postern/postdrop"
DEB_IN_ROOT = "/tmp/postern.deb"
ENV = ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root", "LANG=C.UTF-8",
       "DEBIAN_FRONTEND=noninteractive"]

# pid 1 of the throwaway pid namespace: reaps what postern leaves to it
# and ends by itself (with every process of the namespace) after 20 min.
REAPER = """
import os, time
end = time.monotonic() + 1200
while time.monotonic() < end:
    try:
        if os.waitpid(-1, os.WNOHANG)[0] == 0:
            time.sleep(0.2)
    except ChildProcessError:
        time.sleep(0.2)
"""

# Run in the throwaway root: wait for 127.0.0.1:25, send one message.
SEND = """
import smtplib, socket, sys, time
end = time.time() + 30
while True:
    try:
        socket.create_connection(("127.0.0.1", 25), 1).close()
        break
    except OSError:
        if time.time() > end:
            sys.exit("nothing answers on 127.0.0.1:25")
        time.sleep(0.2)
s = smtplib.SMTP("127.0.0.1", 25, timeout=30)
code, _ = s.ehlo("client.example")
print("ehlo", code)
print("mail", s.mail("root@localhost")[0])
print("rcpt", s.rcpt(sys.argv[1] + "@localhost")[0])
print("data", s.data(sys.argv[2].encode())[0])
s.quit()
"""


def why_not():
    """The reason this machine cannot run these tests, or None."""
    if not IS_ROOT:
        return "needs root (namespaces, overlay mount, apt)"
    for prog, pkg in (("dpkg-buildpackage", "dpkg-dev"), ("dh", "debhelper"),
                      ("unshare", "util-linux"), ("nsenter", "util-linux"),
                      ("apt-get", "apt")):
        if shutil.which(prog) is None:
            return "%s not installed (package %s)" % (prog, pkg)
    return None


def real_state():
    """What the package must never change on the real system."""
    r = subprocess.run(["dpkg-query", "-W", "-f", "${Status}", "postfix"],
                       capture_output=True, text=True)
    return {"postfix": r.stdout,
            "postfix_bin": os.path.exists("/usr/sbin/postfix"),
            "passwd": open("/etc/passwd").read().count("\npostern:"),
            "spool": os.path.exists(SPOOL)}


@pytest.fixture(scope="module")
def deb(tmp_path_factory):
    reason = why_not()
    if reason:
        pytest.skip(reason)
    if os.environ.get("POSTERN_DEB"):
        return os.environ["POSTERN_DEB"]
    out = tmp_path_factory.mktemp("deb")
    env = dict(os.environ, DEB_BUILD_OPTIONS="nocheck")
    r = subprocess.run(["make", "-C", SRC, "deb", "BUILD=%s" % out],
                       capture_output=True, text=True, env=env, timeout=1200)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    debs = [f for f in os.listdir(out / "deb")
            if f.startswith("postern_") and f.endswith(".deb")]
    assert len(debs) == 1, debs
    return str(out / "deb" / debs[0])


class Root:
    """An overlay on / in fresh mount, net and pid namespaces, chroot'ed
    into by every command; gone, with all its processes, at close()."""

    def __init__(self, deb):
        self.dir = tempfile.mkdtemp(prefix="pstdeb.")
        self.root = os.path.join(self.dir, "root")
        self.fg = self.pid = None
        self.holder = subprocess.Popen(
            ["unshare", "--mount", "--net", "--pid", "--fork",
             "--mount-proc", "/usr/bin/python3", "-c", REAPER])
        try:
            self.pid = int(wait_for(self._child, what="namespace pid 1"))
            self._setup(deb)
        except BaseException:
            self.close()
            raise

    def _setup(self, deb):
        d = self.dir
        r = self.ns("mount -t tmpfs tmpfs {d} && mkdir {d}/up {d}/wk {d}/root"
                    " && mount -t overlay overlay -o lowerdir=/,upperdir="
                    "{d}/up,workdir={d}/wk {d}/root".format(d=d), check=False)
        if r.returncode != 0:
            pytest.skip("no overlay on / here: " + r.stderr.strip())
        self.ns("mount --rbind /dev {d}/root/dev"
                " && mount -t proc proc {d}/root/proc"
                " && mount -t tmpfs tmpfs {d}/root/tmp"
                " && mount -t tmpfs tmpfs {d}/root/run"
                " && cp {deb} {d}/root{dst}".format(d=d, deb=deb,
                                                    dst=DEB_IN_ROOT))
        self.run("ip link set lo up")

    def _child(self):
        try:
            with open("/proc/%d/task/%d/children"
                      % (self.holder.pid, self.holder.pid)) as f:
                return f.read().split()[0]
        except (OSError, IndexError):
            return None

    def ns(self, cmd, root=False, check=True, timeout=300):
        argv = ["nsenter", "-t", str(self.pid), "-m", "-n", "-p", "--"]
        if root:
            argv += ["chroot", self.root, "/usr/bin/env", "-i"] + ENV
        r = subprocess.run(argv + ["/bin/sh", "-c", cmd], capture_output=True,
                           text=True, timeout=timeout)
        if check:
            assert r.returncode == 0, "%s: exit %d\n%s%s" % (
                cmd, r.returncode, r.stdout[-3000:], r.stderr[-3000:])
        return r

    def run(self, cmd, **kw):
        return self.ns(cmd, root=True, **kw)

    def out(self, cmd):
        return self.run(cmd).stdout.strip()

    def ok(self, cmd):
        return self.run(cmd, check=False).returncode == 0

    def start_as_unit(self):
        """ExecStartPre, then ExecStart in the background, as written in
        the installed unit."""
        lines = {}
        for ln in self.out("cat /lib/systemd/system/postern.service") \
                .splitlines():
            k, _, v = ln.partition("=")
            lines.setdefault(k, v)
        self.run(lines["ExecStartPre"])
        self.fg_log = tempfile.TemporaryFile(mode="w+")
        self.fg = subprocess.Popen(
            ["nsenter", "-t", str(self.pid), "-m", "-n", "-p", "--",
             "chroot", self.root, "/usr/bin/env", "-i"] + ENV +
            lines["ExecStart"].split(), stdout=self.fg_log,
            stderr=subprocess.STDOUT)
        return lines["ExecStart"]

    def close(self):
        if self.pid is not None:
            os.kill(self.pid, signal.SIGKILL)
        else:
            self.holder.kill()
        self.holder.wait(timeout=60)
        if self.fg is not None:
            self.fg.wait(timeout=60)
            self.fg_log.close()
        os.rmdir(self.dir)


@pytest.fixture
def root(deb):
    before = real_state()
    r = Root(deb)
    yield r
    r.close()
    assert real_state() == before


def mbox(root, text):
    return root.ok("grep -q '%s' /var/mail/%s" % (text, USER))


def install(root):
    r = root.run("apt-get install -y %s" % DEB_IN_ROOT)
    assert "Setting up postern" in r.stdout, r.stdout


def send(root, tag):
    msg = "Subject: %s\r\n\r\nbody of %s\r\n" % (tag, tag)
    r = root.run("python3 -c '%s' %s '%s'" % (SEND, USER, msg))
    assert r.stdout.split() == ["ehlo", "250", "mail", "250", "rcpt", "250",
                                "data", "250"], r.stdout + r.stderr


def test_deb_fresh_install_delivers_and_purge_removes_all(root):
    # a fresh Debian 12 has no MTA: purge the one this machine has
    root.run("apt-get purge -y postfix")
    assert not root.ok("getent group postdrop")
    install(root)
    st = root.out("dpkg-query -W -f '${Status} ${Provides}' postern")
    assert st == "install ok installed mail-transport-agent", st
    assert root.out("id -nu postern") == "postern"
    assert root.out("id -ng postern") == "postern"
    assert root.out("stat -c '%U %G %a' " + POSTDROP) == "root postdrop 2755"
    assert root.out("dpkg-statoverride --list " + POSTDROP) == \
        "root postdrop 2755 " + POSTDROP
    assert root.out("readlink -f /usr/sbin/sendmail /usr/lib/sendmail "
                    "/usr/bin/mailq /usr/bin/newaliases").split() == \
        ["/usr/sbin/postern"] * 4
    # deb-systemd-helper enabled the unit; the config is a conffile
    assert root.out("readlink /etc/systemd/system/multi-user.target.wants/"
                    "postern.service") == "/lib/systemd/system/postern.service"
    assert root.out("dpkg-query -W -f '${Conffiles}' postern") \
        .startswith("/etc/postern/postern.conf ")
    assert root.ok("test -s /etc/aliases.cdb")
    root.run("useradd -m %s" % USER)

    # a submission while postern is down is kept (setgid postdrop, as the
    # user), then delivered when it starts
    root.run("echo 'Subject: kept' | su -s /bin/sh -c '/usr/sbin/sendmail "
             "%s' %s" % (USER, USER))
    assert root.out("ls %s/maildrop | wc -l" % SPOOL) == "1"
    line = root.start_as_unit()
    assert line == "/usr/sbin/postern -c /etc/postern/postern.conf " \
        "start --foreground"
    send(root, "over-smtp-pstdeb")
    wait_for(lambda: mbox(root, "body of over-smtp-pstdeb"),
             timeout=60, interval=0.5,
             what="the SMTP message in /var/mail/" + USER)
    wait_for(lambda: mbox(root, "Subject: kept"),
             timeout=60, interval=0.5,
             what="the message kept in maildrop in /var/mail/" + USER)
    assert root.out("stat -c %%U /var/mail/%s" % USER) == USER
    assert root.ok("postern status")

    root.run("postern stop")
    assert root.fg.wait(timeout=60) == 0
    root.run("apt-get purge -y postern")
    assert not root.ok("getent passwd postern")
    assert not root.ok("getent group postern")
    assert not root.ok("getent group postdrop")
    assert not root.ok("test -e %s" % SPOOL)
    assert not root.ok("test -e /etc/postern")
    assert not root.ok("test -e /etc/aliases.cdb")
    assert not root.ok("dpkg-statoverride --list " + POSTDROP)
    assert not root.ok("test -e /etc/systemd/system/multi-user.target.wants/"
                       "postern.service")
    # the mailbox is the user's, not the MTA's
    assert mbox(root, "body of over-smtp-pstdeb")


def test_deb_replaces_postfix_and_remove_keeps_queue(root):
    # apt switches MTAs: the Conflicts on mail-transport-agent removes
    # postfix (its config stays)
    install(root)
    assert root.out("dpkg-query -W -f '${Status}' postfix") == \
        "deinstall ok config-files"
    assert not root.ok("test -e /usr/sbin/postfix")
    root.run("useradd -m %s" % USER)
    root.run("postern start")
    send(root, "before-remove-pstdeb")
    wait_for(lambda: mbox(root, "body of before-remove-pstdeb"),
             timeout=60, interval=0.5, what="delivery before the remove")
    # accepted, then deferred: no DNS in the throwaway network
    root.run("echo 'Subject: far' | su -s /bin/sh -c '/usr/sbin/sendmail "
             "far@example.com' %s" % USER)
    wait_for(lambda: root.out("ls %s/deferred | wc -l" % SPOOL) == "1",
             timeout=120, interval=0.5, what="the far message in deferred/")
    queued = root.out("ls %s/deferred" % SPOOL)

    # remove with postern running: prerm stops it (no systemd here)
    root.run("apt-get remove -y postern")
    assert root.out("dpkg-query -W -f '${Status}' postern") == \
        "deinstall ok config-files"
    assert not root.ok("test -e /usr/sbin/postern")
    assert not root.ok("python3 -c 'import socket; "
                       "socket.create_connection((\"127.0.0.1\", 25), 2)'")
    assert root.ok("getent passwd postern")
    assert root.ok("getent group postdrop")
    assert root.ok("test -e /etc/postern/postern.conf")
    assert root.out("ls %s/deferred" % SPOOL) == queued

    # reinstalled, postern has the message the remove kept
    install(root)
    root.run("postern start")
    assert queued in root.out("mailq")
    # an upgrade (here a reinstall) restarts a postern started by hand
    pid = root.out("cat %s/pid/master.pid" % SPOOL)
    r = root.run("apt-get install -y --reinstall %s" % DEB_IN_ROOT)
    assert "Setting up postern" in r.stdout, r.stdout
    assert root.ok("postern status")
    assert root.out("cat %s/pid/master.pid" % SPOOL) != pid
    assert queued in root.out("mailq")
    root.run("postern stop")
    root.run("apt-get purge -y postern")
    assert not root.ok("getent passwd postern")
    assert not root.ok("test -e %s" % SPOOL)
    # the postdrop group stays only while another package's set-gid
    # program has an override naming it
    others = root.ok("dpkg-statoverride --list | grep -q ' postdrop '")
    assert root.ok("getent group postdrop") == others
