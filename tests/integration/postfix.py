"""A private Postfix for the conformance and interop tests: its own
config_directory, queue_directory and mail spool under a tmp dir, one
smtpd on 127.0.0.1:PORT, stopped with `postfix -c DIR stop` (then by PID)
even when the test fails. Never starts, reads or changes /etc/postfix's
instance (meta_directory only points at the package's postfix-files)."""

import contextlib
import grp
import os
import pwd
import shutil
import subprocess
import tempfile

import pytest

from conftest import Postern, TEST_USERS, free_port, port_open, wait_for

POSTFIX = "/usr/sbin/postfix"
HAVE_POSTFIX = os.path.exists(POSTFIX) and os.geteuid() == 0

MASTER_CF = """# service type private unpriv chroot wakeup maxproc command
{host}:{port} inet n - n - 20 smtpd
pickup    unix  n - n 60 1 pickup
cleanup   unix  n - n - 0 cleanup
qmgr      unix  n - n 300 1 qmgr
tlsmgr    unix  - - n 1000? 1 tlsmgr
rewrite   unix  - - n - - trivial-rewrite
bounce    unix  - - n - 0 bounce
defer     unix  - - n - 0 bounce
trace     unix  - - n - 0 bounce
verify    unix  - - n - 1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n - - proxymap
smtp      unix  - - n - - smtp
relay     unix  - - n - - smtp
showq     unix  n - n - - showq
error     unix  - - n - - error
retry     unix  - - n - - error
discard   unix  - - n - - discard
local     unix  - n n - - local
anvil     unix  - - n - 1 anvil
scache    unix  - - n - 1 scache
postlog   unix-dgram n - n - 1 postlogd
"""

MAIN_CF = """# private Postfix for postern's conformance/interop tests
compatibility_level = 3.6
queue_directory = {b}/queue
data_directory = {b}/data
command_directory = /usr/sbin
daemon_directory = /usr/lib/postfix/sbin
meta_directory = /etc/postfix
shlib_directory = /usr/lib/postfix
mail_owner = postfix
setgid_group = postdrop
myhostname = pstcf.postfix.example
mydomain = postfix.example
myorigin = $myhostname
mydestination = {mydest}
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
relayhost = {relayhost}
alias_maps = hash:{b}/etc/aliases
alias_database = hash:{b}/etc/aliases
local_recipient_maps = unix:passwd.byname $alias_maps
mail_spool_directory = {b}/mail
maillog_file_prefixes = /tmp
maillog_file = {b}/maillog
biff = no
smtpd_banner = $myhostname ESMTP
smtpd_helo_required = yes
smtpd_recipient_limit = 100
message_size_limit = {size}
smtputf8_enable = yes
strict_smtputf8 = yes
smtpd_tls_cert_file = {b}/etc/cert.pem
smtpd_tls_key_file = {b}/etc/key.pem
smtpd_tls_security_level = may
smtpd_tls_received_header = yes
smtp_tls_security_level = may
delay_warning_time = 0
minimal_backoff_time = 2s
maximal_backoff_time = 4s
queue_run_delay = 2s
{extra}
"""


LOCAL_DOMAINS = "localhost, test.example, mx.test.example, $myhostname"


class Postfix:
    """One private instance on host:port (port: a free one if None).
    relayhost: "[127.0.0.1]:PORT" or "" (direct delivery); mydestination:
    the domains delivered to the mbox spool (the conformance rows' local
    domains by default)."""

    def __init__(self, relayhost="", size=10240000, extra="",
                 host="127.0.0.1", port=None, mydestination=LOCAL_DOMAINS):
        self.base = tempfile.mkdtemp(prefix="pstcf-pf-", dir="/tmp")
        os.chmod(self.base, 0o755)
        self.etc = os.path.join(self.base, "etc")
        self.queue = os.path.join(self.base, "queue")
        self.mail = os.path.join(self.base, "mail")
        self.host = host
        self.port = port or free_port(host)
        data = os.path.join(self.base, "data")
        for d in (self.etc, self.queue, data, self.mail):
            os.makedirs(d)
        os.chmod(self.queue, 0o755)
        os.chmod(self.mail, 0o1777)
        pf = pwd.getpwnam("postfix")
        os.chown(data, pf.pw_uid, pf.pw_gid)
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048",
                        "-nodes", "-days", "2", "-subj", "/CN=localhost",
                        "-keyout", os.path.join(self.etc, "key.pem"),
                        "-out", os.path.join(self.etc, "cert.pem")],
                       check=True, capture_output=True)
        with open(os.path.join(self.etc, "main.cf"), "w") as f:
            f.write(MAIN_CF.format(b=self.base, relayhost=relayhost,
                                   size=size, extra=extra, host=host,
                                   mydest=mydestination))
        with open(os.path.join(self.etc, "master.cf"), "w") as f:
            f.write(MASTER_CF.format(host=host, port=self.port))
        # postmaster, as RFC 5321 §4.5.1 wants it, goes to a test user
        aliases = os.path.join(self.etc, "aliases")
        with open(aliases, "w") as f:
            f.write("postmaster: %s\n" % TEST_USERS[0])
        subprocess.run(["/usr/sbin/postalias", "-c", self.etc, aliases],
                       check=True, capture_output=True, timeout=60)
        self.root = 0

    def run(self, *args, check=True):
        r = subprocess.run([POSTFIX, "-c", self.etc] + list(args),
                           capture_output=True, text=True, timeout=60)
        if check and r.returncode != 0:
            raise AssertionError("postfix %s: %s" % (
                " ".join(args), (r.stdout + r.stderr)[-800:]))
        return r

    def start(self):
        self.run("start")
        wait_for(self.port_open, what="postfix smtpd port")
        self.root = wait_for(self.master_pid, what="postfix master.pid")
        return self

    def port_open(self):
        return port_open(self.port, self.host)

    # QUEUE/pid/master.pid, the same file as postern's
    master_pid = Postern.master_pid

    def stop(self):
        root = self.master_pid() or self.root
        self.run("stop", check=False)
        if root:
            try:
                wait_for(lambda: not os.path.exists("/proc/%d" % root),
                         timeout=15, what="postfix master gone")
            except AssertionError:
                os.kill(root, 9)
        if os.environ.get("POSTERN_KEEP") is None:
            shutil.rmtree(self.base, ignore_errors=True)

    # --- mail ------------------------------------------------------
    def mbox(self, user):
        try:
            with open(os.path.join(self.mail, user), "rb") as f:
                return f.read()
        except FileNotFoundError:
            return b""

    def wait_mbox(self, user, needle, timeout=30):
        if isinstance(needle, str):
            needle = needle.encode()
        return wait_for(lambda: needle in self.mbox(user) and self.mbox(user),
                        timeout, what="%r in postfix mbox of %s" % (
                            needle, user))

    def log(self):
        try:
            with open(os.path.join(self.base, "maillog"),
                      errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def sendmail(self, args, message):
        """Postfix's sendmail -C DIR -i args < message (a "." line is
        text), with postdrop's group
        as the real group too (postdrop honours a private config only
        for a caller it does not consider unsafe)."""
        gid = grp.getgrnam("postdrop").gr_gid
        r = subprocess.run(["/usr/sbin/sendmail", "-C", self.etc, "-i"] +
                           args,
                           input=message, capture_output=True, timeout=60,
                           preexec_fn=lambda: os.setgid(gid))
        assert r.returncode == 0, r.stderr
        return r


@contextlib.contextmanager
def running(**kw):
    """A started Postfix(**kw), stopped (and its directory removed) when
    the block ends, whatever happened in it."""
    if not HAVE_POSTFIX:
        pytest.skip("needs root and the postfix package")
    p = Postfix(**kw)
    try:
        yield p.start()
    finally:
        p.stop()


@pytest.fixture
def postfix_factory():
    """make(**Postfix args) -> a started private Postfix, stopped after
    the test."""
    with contextlib.ExitStack() as stack:
        yield lambda **kw: stack.enter_context(running(**kw))
