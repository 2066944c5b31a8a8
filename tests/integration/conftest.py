"""Harness for postern integration tests: a real postern started from a
temp directory (own config, queue, mailboxes, high ports, log file), real
clients (smtplib, raw sockets, the sendmail binary) and real peers
(aiosmtpd on 127.0.0.2). Every process started here is stopped by PID."""

import os
import pwd
import grp
import signal
import random
import socket
import subprocess
import tempfile
import threading
import time
import shutil

import pytest

BUILD = os.environ.get("POSTERN_BUILD") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", "..", "build"))
POSTERN = os.path.join(BUILD, "postern")
IS_ROOT = os.geteuid() == 0
TEST_USERS = ["pstalice", "pstbob", "pstcarol"]


# Ports for listeners come from below the kernel's ephemeral range
# (net.ipv4.ip_local_port_range, 32768-60999 here): a port the kernel
# handed out with bind(0) could be given to some test's outgoing
# connection before postern binds it ("Address already in use").
PORT_LOW, PORT_HIGH = 20000, 32000
_next_port = [random.randrange(PORT_LOW, PORT_HIGH)]


def free_port(host="127.0.0.1"):
    """A port nothing is bound to, never the same twice in a run (two
    listeners of one instance ask one after the other)."""
    for _ in range(PORT_HIGH - PORT_LOW):
        port = _next_port[0]
        _next_port[0] = port + 1 if port + 1 < PORT_HIGH else PORT_LOW
        s = socket.socket()
        try:
            s.bind((host, port))
            return port
        except OSError:
            continue
        finally:
            s.close()
    raise RuntimeError("no free port in %d-%d" % (PORT_LOW, PORT_HIGH))


def port_open(port, host="127.0.0.1"):
    try:
        socket.create_connection((host, port), 0.5).close()
        return True
    except OSError:
        return False


def wait_for(fn, timeout=20.0, interval=0.05, what="condition"):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError("timed out after %.0fs waiting for %s (last: %r)"
                         % (timeout, what, last))


@pytest.fixture(scope="session")
def users():
    """Local recipients. As root: system users created for the run (and
    removed after). Otherwise only the current user exists for us."""
    if not IS_ROOT:
        me = pwd.getpwuid(os.getuid()).pw_name
        return {"alice": me, "bob": me, "carol": me, "real": False}
    created = create_users(TEST_USERS)
    yield {"alice": TEST_USERS[0], "bob": TEST_USERS[1],
           "carol": TEST_USERS[2], "real": True}
    remove_users(created)


def create_users(names):
    """As root: the logins in names that do not exist yet, created without
    a home; returns those it made (for remove_users)."""
    created = []
    for u in names:
        try:
            pwd.getpwnam(u)
        except KeyError:
            subprocess.run(["useradd", "-M", "-N", "-d", "/nonexistent",
                            "-s", "/usr/sbin/nologin", u], check=True)
            created.append(u)
    return created


def remove_users(names):
    for u in names:
        subprocess.run(["userdel", u], check=False)


class Postern:
    def __init__(self, base, users, extra="", listeners=None, tls=False,
                 small_pools=True):
        self.base = base
        self.users = users
        self.conf = os.path.join(base, "etc", "postern.conf")
        self.queue = os.path.join(base, "queue")
        self.mail = os.path.join(base, "mail")
        self.logfile = os.path.join(base, "postern.log")
        self.port = free_port()
        self.sub_port = free_port()
        self.smarthost_port = free_port("127.0.0.2")
        self.env = dict(os.environ, POSTERN_LIBEXEC=BUILD,
                        POSTERN_CONF=self.conf)
        self.env.pop("POSTERN_LISTEN_FDS", None)
        os.makedirs(os.path.join(base, "etc"))
        os.makedirs(self.mail)
        os.chmod(base, 0o755)
        os.chmod(self.mail, 0o1777)
        if IS_ROOT:
            wuser, wgroup = "nobody", "nogroup"
        else:
            wuser = pwd.getpwuid(os.getuid()).pw_name
            wgroup = grp.getgrgid(os.getgid()).gr_name
        tls_lines = ""
        if tls:
            self.cert = os.path.join(base, "etc", "cert.pem")
            self.key = os.path.join(base, "etc", "key.pem")
            subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048",
                            "-nodes", "-days", "2", "-subj", "/CN=localhost",
                            "-keyout", self.key, "-out", self.cert],
                           check=True, capture_output=True)
            os.chmod(self.key, 0o644)
            tls_lines = "tls_cert = %s\ntls_key = %s\n" % (self.cert, self.key)
        with open(self.conf, "w") as f:
            f.write("""# test instance
hostname = mx.test.example
queue_dir = {q}
config_dir = {b}/etc
local_domains = localhost, test.example, {b}/etc/local-host-names
relay_domains = {b}/etc/relay-domains
access_map = {b}/etc/access
alias_map = {b}/etc/aliases
smarthost = [127.0.0.2]:{sp}
mailbox = mbox:{m}/%u
log = {log}
log_level = debug
user = {wu}
group = {wg}
require_resolvable_sender = no
min_backoff = 60s
max_backoff = 120s
{pools}{tls}{extra}
[smtp]
listen = 127.0.0.1:{p}

[submission]
listen = 127.0.0.1:{s}
""".format(q=self.queue, b=base, sp=self.smarthost_port, m=self.mail,
                log=self.logfile, wu=wuser, wg=wgroup, p=self.port,
                s=self.sub_port, tls=tls_lines, extra=extra,
                pools=("cleanup_processes = 2\nlocal_processes = 2\n"
                       "remote_processes = 2\n") if small_pools else ""))
        with open(os.path.join(base, "etc", "local-host-names"), "w") as f:
            f.write("mx.test.example\n")
        with open(os.path.join(base, "etc", "relay-domains"), "w") as f:
            f.write("relayed.example\n")
        with open(os.path.join(base, "etc", "access"), "w") as f:
            f.write("Connect:127.0.0.1 RELAY\nConnect:127.0.0.9 REJECT\n")
        with open(os.path.join(base, "etc", "aliases"), "w") as f:
            f.write("postmaster: {a}\nMAILER-DAEMON: postmaster\n"
                    "root: {a}\nteam: {a}, {b}\n"
                    "outside: someone@remote.example\n"
                    "loop1: loop2\nloop2: loop1\n".format(
                        a=users["alice"], b=users["bob"]))
        self.cli("map", os.path.join(base, "etc", "access"))
        self.cli("aliases")

    # --- processes -------------------------------------------------
    def cli(self, *args, check=True, input=None, timeout=60):
        r = subprocess.run([POSTERN, "-c", self.conf] + list(args),
                           env=self.env, capture_output=True, text=True,
                           input=input, timeout=timeout)
        if check and r.returncode != 0:
            raise AssertionError("postern %s failed (%d): %s %s" % (
                " ".join(args), r.returncode, r.stdout, r.stderr))
        return r

    def start(self):
        self.cli("start")
        wait_for(lambda: self.port_open(self.port), what="smtp port")
        wait_for(lambda: os.path.exists(
            os.path.join(self.queue, "private", "cleanup")), what="cleanup")

    def port_open(self, port):
        return port_open(port)

    def master_pid(self):
        try:
            with open(os.path.join(self.queue, "pid", "master.pid")) as f:
                return int(f.read().strip() or 0)
        except (OSError, ValueError):
            return 0

    def children(self, name=None):
        """(pid, comm, uid) of the master's children."""
        mp = self.master_pid()
        out = []
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                with open("/proc/%s/stat" % d) as f:
                    st = f.read()
                comm = st[st.index("(") + 1:st.rindex(")")]
                ppid = int(st[st.rindex(")") + 2:].split()[1])
                uid = os.stat("/proc/%s" % d).st_uid
            except (OSError, ValueError):
                continue
            if ppid == mp and (name is None or comm == name):
                out.append((int(d), comm, uid))
        return out

    def our_pids(self):
        """Every process started from this instance's config, by PID."""
        pids = []
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                with open("/proc/%s/cmdline" % d, "rb") as f:
                    cmd = f.read().split(b"\0")
            except OSError:
                continue
            if self.conf.encode() in cmd:
                pids.append(int(d))
        return pids

    def kill_all(self, sig=signal.SIGKILL):
        """Signal every process of this instance until none is left (a
        worker spawned by master between our listing and master's death
        is caught on the next round)."""
        def sweep():
            pids = self.our_pids()
            for pid in pids:
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            return not pids
        wait_for(sweep, interval=0.1, what="processes gone")

    def stop(self):
        if self.master_pid():
            self.cli("stop", check=False)
        left = self.our_pids()
        if left:
            self.kill_all()

    # --- mail ------------------------------------------------------
    def mbox(self, user):
        p = os.path.join(self.mail, user)
        try:
            with open(p, "rb") as f:
                return f.read()
        except FileNotFoundError:
            return b""

    def mbox_count(self, user):
        return self.mbox(user).count(b"\nReturn-Path: ") + (
            1 if self.mbox(user).startswith(b"Return-Path: ") else 0)

    def wait_mbox(self, user, needle, timeout=20):
        if isinstance(needle, str):
            needle = needle.encode()
        return wait_for(lambda: needle in self.mbox(user) and self.mbox(user),
                        timeout, what="%r in mbox of %s" % (needle, user))

    def log(self):
        try:
            with open(self.logfile, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def queue_files(self, sub):
        try:
            return [n for n in os.listdir(os.path.join(self.queue, sub))
                    if len(n) == 16]
        except FileNotFoundError:
            return []

    def queue_empty(self):
        return not any(self.queue_files(d) for d in
                       ("incoming", "active", "deferred"))


@pytest.fixture
def make_postern(users):
    made = []

    def make(extra="", start=True, tls=False):
        base = tempfile.mkdtemp(prefix="postern-it-", dir="/tmp")
        p = Postern(base, users, extra=extra, tls=tls)
        made.append(p)
        if start:
            p.start()
        return p
    yield make
    for p in made:
        try:
            p.stop()
        finally:
            if os.environ.get("POSTERN_KEEP") is None:
                shutil.rmtree(p.base, ignore_errors=True)


@pytest.fixture
def postern(make_postern):
    return make_postern()


class Peer:
    """An SMTP peer (aiosmtpd) on 127.0.0.2 that records what it gets and
    answers RCPTs from a table: {address: "550 5.1.1 No such user"}."""

    def __init__(self, port, smtputf8=False):
        from aiosmtpd.controller import Controller
        self.port = port
        self.messages = []
        self.mail_options = []      # each message's MAIL parameters
        self.rcpt_replies = {}
        peer = self

        class Handler:
            async def handle_RCPT(self, server, session, envelope, address,
                                  rcpt_options):
                r = peer.rcpt_replies.get(address.lower())
                if r:
                    return r
                envelope.rcpt_tos.append(address)
                return "250 OK"

            async def handle_DATA(self, server, session, envelope):
                peer.mail_options.append(list(envelope.mail_options))
                peer.messages.append((envelope.mail_from,
                                      list(envelope.rcpt_tos),
                                      envelope.original_content))
                return "250 2.0.0 Ok: queued at peer"

        self.controller = Controller(Handler(), hostname="127.0.0.2",
                                     port=port, decode_data=False,
                                     enable_SMTPUTF8=smtputf8)

    def start(self):
        self.controller.start()
        return self

    def stop(self):
        self.controller.stop()


@pytest.fixture
def peer_factory():
    made = []

    def make(port, smtputf8=False):
        p = Peer(port, smtputf8).start()
        made.append(p)
        return p
    yield make
    for p in made:
        try:
            p.stop()
        except Exception:
            pass
