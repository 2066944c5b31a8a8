#!/usr/bin/python3
"""`make bench`: the same workloads against postern, Postfix and OpenSMTPD
in one run, one MTA at a time, each from its own private directory on high
loopback ports (never port 25, never as the system MTA). Prints a table and
writes bench/results/LATEST.json and bench/RESULTS.md. Every loop is
bounded in count and time; every process started here is stopped by PID.

    bench/run.py [--quick] [--mtas postern,postfix,opensmtpd] [--reps 3]
                 [--workloads relay,latency,local,idle]
"""

import argparse
import datetime
import json
import os
import platform
import pwd
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
BUILD = os.path.join(TOP, "build")
CACHE = os.path.join(HERE, ".cache")
CONFIGS = os.path.join(HERE, "configs")
RESULTS = os.path.join(HERE, "results")
SOURCE = "/usr/sbin/smtp-source"
SINK = "/usr/sbin/smtp-sink"
OSMTPD_ROOT = os.path.join(CACHE, "opensmtpd", "root")
LOCAL_USERS = ["pstbench%d" % i for i in range(10)]
HZ = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")

T_START = time.time()
# max_idle of both MTAs (Postfix's default is 100 s): "at rest" is
# measured this long (plus a margin) after the last message
REST_IDLE = 10


def log(*a):
    print("[%6.1fs]" % (time.time() - T_START), *a, flush=True)


def free_port(host="127.0.0.1"):
    s = socket.socket()
    s.bind((host, 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_for(fn, timeout, interval=0.05):
    deadline = time.time() + timeout
    while time.time() < deadline:
        r = fn()
        if r:
            return r
        time.sleep(interval)
    return fn()


def port_open(port, host="127.0.0.1"):
    try:
        socket.create_connection((host, port), 0.5).close()
        return True
    except OSError:
        return False


# --- /proc accounting ---------------------------------------------------
def proc_table():
    """{pid: (ppid, utime+stime+cutime+cstime ticks, rss pages)}"""
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
        except OSError:
            continue
        rest = st[st.rindex(")") + 2:].split()
        ppid = int(rest[1])
        cpu = sum(int(x) for x in rest[11:15])
        rss = int(rest[21])
        out[int(d)] = (ppid, cpu, rss)
    return out


def tree(root, table=None):
    table = table if table is not None else proc_table()
    if root not in table:
        return [], table
    kids = {}
    for pid, (ppid, _, _) in table.items():
        kids.setdefault(ppid, []).append(pid)
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out, table


def tree_cpu(root):
    """CPU seconds of the tree: each live process's own time plus what it
    collected from children it reaped (so processes that exited count)."""
    pids, t = tree(root)
    return sum(t[p][1] for p in pids) / HZ


def tree_mem(root):
    """(sum RSS bytes, sum PSS bytes, process count) of the tree."""
    pids, t = tree(root)
    rss = sum(t[p][2] for p in pids) * PAGE
    pss = 0
    for p in pids:
        try:
            with open("/proc/%d/smaps_rollup" % p) as f:
                for line in f:
                    if line.startswith("Pss:"):
                        pss += int(line.split()[1]) * 1024
                        break
        except OSError:
            pass
    return rss, pss, len(pids)


def kill_tree(root, sig=signal.SIGKILL):
    pids, _ = tree(root)
    for p in reversed(pids):
        try:
            os.kill(p, sig)
        except ProcessLookupError:
            pass


def master_pid(queue):
    """The pid in QUEUE/pid/master.pid (postern and Postfix alike), or 0."""
    try:
        with open(os.path.join(queue, "pid", "master.pid")) as f:
            return int(f.read().strip() or 0)
    except (OSError, ValueError):
        return 0


# --- the sink ------------------------------------------------------------

class Sink:
    def __init__(self, base):
        self.port = free_port("127.0.0.2")
        self.out = os.path.join(base, "sink.out")
        self.proc = None

    def start(self):
        self.fh = open(self.out, "wb")
        self.proc = subprocess.Popen(
            [SINK, "-c", "-u", "nobody", "127.0.0.2:%d" % self.port, "1024"],
            stdout=self.fh, stderr=subprocess.STDOUT)
        if not wait_for(lambda: port_open(self.port, "127.0.0.2"), 10):
            raise RuntimeError("smtp-sink did not start")

    def count(self):
        try:
            with open(self.out, "rb") as f:
                f.seek(0, 2)
                n = f.tell()
                f.seek(max(0, n - 400))
                tail = f.read()
        except OSError:
            return 0
        i = tail.rfind(b"mesg=")
        if i < 0:
            return 0
        j = i + 5
        while j < len(tail) and tail[j:j + 1].isdigit():
            j += 1
        return int(tail[i + 5:j] or 0)

    def stop(self):
        if self.proc:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.fh.close()


# --- the MTAs ------------------------------------------------------------
class MTA:
    name = "?"
    relay_rcpt = "sink@remote.example"

    def __init__(self, base, sink):
        self.base = os.path.join(base, self.name)
        os.makedirs(self.base)
        os.chmod(self.base, 0o755)
        self.sink = sink
        self.port = free_port()
        for d in ("mail", "maildir"):   # spools of the local modes
            os.makedirs(os.path.join(self.base, d))
            os.chmod(os.path.join(self.base, d), 0o1777)

    def save_configs(self, files):
        d = os.path.join(CONFIGS, self.name)
        os.makedirs(d, exist_ok=True)
        for src, name in files:
            with open(src) as f:
                text = f.read()
            text = text.replace(self.base, "$BASE").replace(
                str(self.sink.port), "$SINKPORT").replace(
                str(self.port), "$PORT")
            with open(os.path.join(d, name), "w") as f:
                f.write(text)

    mode = "mbox"           # the local delivery mode its config has now

    def local_line(self, mode):
        """This MTA's config line for a local mode (LOCAL_MODES), or
        None when it has none."""
        line = local_mode(mode).get(self.name)
        return line and line.format(b=self.base,
                                    mf=getattr(self, "mboxfile", ""))

    def set_local_mode(self, mode):
        """A fresh instance (as for idle) with the config line of the local
        mode; False when this MTA has none for it."""
        new = self.local_line(mode)
        if new is None:
            return False
        old = self.local_line(self.mode)
        self.stop()
        with open(self.conf) as f:
            text = f.read()
        assert old in text, (self.name, old)
        with open(self.conf, "w") as f:
            f.write(text.replace(old, new))
        self.start()
        self.mode = mode
        return True

    def box_path(self, mode, user):
        return os.path.join(self.base, local_mode(mode)["box"].format(u=user))


class Postern(MTA):
    name = "postern"

    def setup(self):
        etc = os.path.join(self.base, "etc")
        os.makedirs(etc)
        self.conf = os.path.join(etc, "postern.conf")
        self.queue = os.path.join(self.base, "queue")
        with open(self.conf, "w") as f:
            f.write("""# postern relay for the benchmark (defaults otherwise)
hostname = bench.postern.example
queue_dir = {b}/queue
config_dir = {b}/etc
local_domains = localhost
relay_domains = {b}/etc/relay-domains
access_map = {b}/etc/access
alias_map = {b}/etc/aliases
smarthost = [127.0.0.2]:{sp}
remote_concurrency = 20
# each remote process does one delivery at a time (step 2): 20 of them
# for the same 20 parallel connections toward the sink as the others
remote_processes = 20
max_idle = {idle}s
{local}
log = {b}/maillog
log_level = info
user = nobody
group = nogroup
require_resolvable_sender = no

[smtp]
listen = 127.0.0.1:{p}
max_sessions = 2100
""".format(b=self.base, sp=self.sink.port, p=self.port,
           local=self.local_line(self.mode), idle=REST_IDLE))
        for n, text in (("relay-domains", "\n"),
                        ("access", "Connect:127.0.0.1 RELAY\n"),
                        ("aliases", "postmaster: root\n")):
            with open(os.path.join(etc, n), "w") as f:
                f.write(text)
        self.env = dict(os.environ, POSTERN_LIBEXEC=BUILD,
                        POSTERN_CONF=self.conf)
        self.cli("map", os.path.join(etc, "access"))
        self.cli("aliases")
        self.save_configs([(self.conf, "postern.conf"),
                           (os.path.join(etc, "access"), "access")])

    def cli(self, *args):
        return subprocess.run([os.path.join(BUILD, "postern"), "-c",
                               self.conf] + list(args), env=self.env,
                              capture_output=True, text=True, timeout=60)

    def start(self):
        r = self.cli("start")
        if r.returncode != 0:
            raise RuntimeError("postern start: %s %s" % (r.stdout, r.stderr))
        if not wait_for(lambda: port_open(self.port), 20):
            raise RuntimeError("postern did not listen")
        self.root = wait_for(self._pid, 10)

    def _pid(self):
        return master_pid(self.queue)

    def set_mailbox(self, value=None):
        """Restart with `mailbox = value` (None: the mbox default)."""
        value = value or "mbox:%s/mail/%%u" % self.base
        with open(self.conf) as f:
            lines = f.read().splitlines(True)
        lines = ["mailbox = %s\n" % value if l.startswith("mailbox =")
                 else l for l in lines]
        with open(self.conf, "w") as f:
            f.writelines(lines)
        self.stop()
        self.start()

    def stop(self):
        root = self._pid() or getattr(self, "root", 0)
        self.cli("stop")
        if root:
            wait_for(lambda: not os.path.exists("/proc/%d" % root), 15)
            kill_tree(root)

    def queue_empty(self):
        for sub in ("incoming", "active", "deferred"):
            for _, _, files in os.walk(os.path.join(self.queue, sub)):
                if any(len(n) == 16 for n in files):
                    return False
        return True


class Postfix(MTA):
    name = "postfix"

    def setup(self):
        self.etc = os.path.join(self.base, "etc")
        self.conf = os.path.join(self.etc, "main.cf")
        self.queue = os.path.join(self.base, "queue")
        data = os.path.join(self.base, "data")
        for d in (self.etc, self.queue, data):
            os.makedirs(d)
        os.chmod(self.queue, 0o755)
        pf = pwd.getpwnam("postfix")
        os.chown(data, pf.pw_uid, pf.pw_gid)
        with open(os.path.join(self.etc, "main.cf"), "w") as f:
            f.write("""# Postfix {v} as a relay for the benchmark: private instance,
# Postfix defaults otherwise (fsync on, connection cache on demand).
compatibility_level = 3.6
queue_directory = {b}/queue
data_directory = {b}/data
command_directory = /usr/sbin
daemon_directory = /usr/lib/postfix/sbin
meta_directory = /etc/postfix
shlib_directory = /usr/lib/postfix
mail_owner = postfix
setgid_group = postdrop
myhostname = bench.postfix.example
mydomain = postfix.example
myorigin = $myhostname
mydestination = localhost
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
relayhost = [127.0.0.2]:{sp}
default_destination_concurrency_limit = 20
alias_maps =
alias_database =
local_recipient_maps = unix:passwd.byname
{local}
maillog_file = {b}/maillog
biff = no
smtpd_banner = $myhostname ESMTP
max_idle = {idle}s
""".format(b=self.base, sp=self.sink.port, v=self.version(),
           local=self.local_line(self.mode), idle=REST_IDLE))
        with open(os.path.join(self.etc, "master.cf"), "w") as f:
            f.write("""# service type private unpriv chroot wakeup maxproc command
# smtpd's maxproc is raised to 2100 for the idle-session workload.
127.0.0.1:{p} inet n - n - 2100 smtpd
pickup    unix  n - n 60 1 pickup
cleanup   unix  n - n - 0 cleanup
qmgr      unix  n - n 300 1 qmgr
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
lmtp      unix  - - n - - lmtp
anvil     unix  - - n - 1 anvil
scache    unix  - - n - 1 scache
postlog   unix-dgram n - n - 1 postlogd
""".format(p=self.port))
        self.save_configs([(os.path.join(self.etc, "main.cf"), "main.cf"),
                           (os.path.join(self.etc, "master.cf"), "master.cf")])
        r = subprocess.run(["/usr/sbin/postfix", "-c", self.etc, "check"],
                           capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise RuntimeError("postfix check: " + r.stderr[-500:])

    def set_mailbox(self, value=None):
        """Restart with mailbox_transport = value (postern's lmtp:unix:/PATH
        is Postfix's syntax too), or without it (None: mbox)."""
        pc = ["/usr/sbin/postconf", "-c", self.etc]
        if value:
            subprocess.run(pc + ["-e", "mailbox_transport = %s" % value],
                           check=True, capture_output=True, timeout=60)
        else:
            subprocess.run(pc + ["-X", "mailbox_transport"], check=True,
                           capture_output=True, timeout=60)
        self.stop()
        self.start()

    @staticmethod
    def version():
        r = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", "postfix"],
                           capture_output=True, text=True)
        return r.stdout.strip()

    def start(self):
        r = subprocess.run(["/usr/sbin/postfix", "-c", self.etc, "start"],
                           capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise RuntimeError("postfix start: " + (r.stdout + r.stderr)[-500:])
        if not wait_for(lambda: port_open(self.port), 20):
            raise RuntimeError("postfix did not listen")
        self.root = wait_for(self._pid, 10)

    def _pid(self):
        return master_pid(self.queue)

    def stop(self):
        root = self._pid() or getattr(self, "root", 0)
        subprocess.run(["/usr/sbin/postfix", "-c", self.etc, "stop"],
                       capture_output=True, timeout=60)
        if root:
            wait_for(lambda: not os.path.exists("/proc/%d" % root), 15)
            kill_tree(root)

    def queue_empty(self):
        for sub in ("incoming", "active", "deferred", "maildrop"):
            for _, _, files in os.walk(os.path.join(self.queue, sub)):
                if files:
                    return False
        return True


class OpenSMTPD(MTA):
    """OpenSMTPD 6.8 from the Debian .deb, extracted (not installed: it
    conflicts with postfix). Its spool (/var/spool/smtpd), chroot
    (/var/lib/opensmtpd/empty), control socket (/var/run/smtpd.sock) and
    users (opensmtpd, opensmtpq) are compiled in: created if missing and
    removed afterwards."""
    name = "opensmtpd"
    SPOOL = "/var/spool/smtpd"
    EMPTY = "/var/lib/opensmtpd/empty"
    SOCK = "/var/run/smtpd.sock"
    LIBEXEC = "/usr/libexec/opensmtpd"

    created_users = []
    created_dirs = []

    @classmethod
    def fetch(cls):
        smtpd = os.path.join(OSMTPD_ROOT, "usr", "sbin", "smtpd")
        if os.path.exists(smtpd):
            return smtpd
        dl = os.path.join(CACHE, "opensmtpd")
        os.makedirs(dl, exist_ok=True)
        r = subprocess.run(["apt-get", "download", "opensmtpd"], cwd=dl,
                           capture_output=True, text=True, timeout=120)
        debs = [n for n in os.listdir(dl) if n.endswith(".deb")]
        if not debs:
            raise RuntimeError("apt-get download opensmtpd failed: " +
                               r.stderr.strip()[-200:])
        subprocess.run(["dpkg-deb", "-x", os.path.join(dl, debs[0]),
                        OSMTPD_ROOT], check=True, timeout=60)
        r = subprocess.run(["ldd", smtpd], capture_output=True, text=True)
        if "not found" in r.stdout:
            raise RuntimeError("missing libraries: " + " ".join(
                l.split()[0] for l in r.stdout.splitlines() if "not found" in l))
        return smtpd

    def setup(self):
        self.smtpd = self.fetch()
        if os.path.exists(self.SOCK) and self.sock_alive():
            raise RuntimeError("%s exists: another OpenSMTPD is running"
                               % self.SOCK)
        if os.geteuid() != 0:
            raise RuntimeError("needs root (compiled-in users and spool)")
        for u in ("opensmtpd", "opensmtpq"):
            try:
                pwd.getpwnam(u)
            except KeyError:
                subprocess.run(["useradd", "-r", "-M", "-d", self.EMPTY, "-s",
                                "/usr/sbin/nologin", u], check=True)
                OpenSMTPD.created_users.append(u)
        if not os.path.exists(self.SPOOL):
            OpenSMTPD.created_dirs.append(self.SPOOL)   # smtpd makes it
        if not os.path.exists(self.EMPTY):
            os.makedirs(self.EMPTY)
            OpenSMTPD.created_dirs.append(self.EMPTY)
        if os.path.exists("/var/lib/opensmtpd") and \
                "/var/lib/opensmtpd/empty" in OpenSMTPD.created_dirs:
            OpenSMTPD.created_dirs.append("/var/lib/opensmtpd")
        self.mboxfile = os.path.join(OSMTPD_ROOT, "usr", "libexec",
                                     "opensmtpd", "mail.mboxfile")
        self.conf = os.path.join(self.base, "smtpd.conf")
        with open(self.conf, "w") as f:
            f.write("""# OpenSMTPD 6.8 relay for the benchmark; defaults otherwise.
# The MTA per-route/per-host connection limits (default 5/10) are raised
# to 20 to match the other MTAs' concurrency toward the sink.
mta limit max-conn-per-route 20
mta limit max-conn-per-host 20
# default 100 messages per session; the latency workload sends 300 on one
smtp limit max-mails 1000
listen on 127.0.0.1 port {p} hostname bench.opensmtpd.example
action "relay" relay host smtp://127.0.0.2:{sp}
{local}
match from local for local action "local"
match from local for any action "relay"
""".format(p=self.port, sp=self.sink.port,
           local=self.local_line(self.mode)))
        r = subprocess.run([self.smtpd, "-n", "-f", self.conf],
                           capture_output=True, text=True, timeout=30)
        if r.returncode != 0:
            raise RuntimeError("smtpd -n: " + (r.stdout + r.stderr)[-300:])
        self.save_configs([(self.conf, "smtpd.conf")])

    def sock_alive(self):
        s = socket.socket(socket.AF_UNIX)
        try:
            s.connect(self.SOCK)
            return True
        except OSError:
            os.unlink(self.SOCK)        # stale, left by a killed smtpd
            return False
        finally:
            s.close()

    def start(self):
        self.logf = open(os.path.join(self.base, "maillog"), "wb")
        # In a mount namespace of its own, two compiled-in paths are bound
        # from the extracted package: /usr/libexec/opensmtpd (its mda
        # commands run through mail.mda there) and /etc/resolv.conf with
        # "lookup file bind": its resolver asks DNS before /etc/hosts by
        # default, and each session's reverse lookup of 127.0.0.1 waited
        # on this machine's unreachable nameserver (300 ms per message,
        # 50 messages on one session in 15 s instead of 0.2 s), while
        # glibc's nsswitch (Postfix, postern) reads /etc/hosts first.
        resolv = os.path.join(self.base, "resolv.conf")
        with open("/etc/resolv.conf") as f:
            servers = [l for l in f if l.split()[:1] == ["nameserver"]]
        with open(resolv, "w") as f:
            f.write("lookup file bind\n" + "".join(servers))
        if not os.path.exists(self.LIBEXEC):
            os.makedirs(self.LIBEXEC)
            OpenSMTPD.created_dirs.append(self.LIBEXEC)
        script = ('mount --bind "$1" /etc/resolv.conf && '
                  'mount --bind "$2" "$3" && exec "$4" -d -f "$5"')
        # -d: foreground, log to stderr = the log file. unshare execs sh,
        # which execs smtpd: the PID is smtpd's.
        self.proc = subprocess.Popen(
            ["unshare", "-m", "--propagation", "private", "sh", "-c",
             script, "sh", resolv, os.path.dirname(self.mboxfile),
             self.LIBEXEC, self.smtpd, self.conf],
            stdout=self.logf, stderr=self.logf)
        self.root = self.proc.pid
        if not wait_for(lambda: port_open(self.port), 20):
            raise RuntimeError("opensmtpd did not listen: " + open(
                os.path.join(self.base, "maillog"), errors="replace").read()[-300:])

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            kill_tree(self.root)
            self.proc.wait()
        kill_tree(self.root)
        self.logf.close()
        if os.path.exists(self.SOCK):
            self.sock_alive()

    def queue_empty(self):
        for sub in ("incoming", "queue", "temporary"):
            for _, _, files in os.walk(os.path.join(self.SPOOL, sub)):
                if files:
                    return False
        return True

    @classmethod
    def cleanup_system(cls):
        for d in cls.created_dirs:
            shutil.rmtree(d, ignore_errors=True)
        for u in cls.created_users:
            subprocess.run(["userdel", u], check=False)


# --- workloads -----------------------------------------------------------
def smtp_source(port, n, sessions, rcpt, cap):
    """Run smtp-source; return (seconds, returncode, stderr tail)."""
    t0 = time.time()
    p = subprocess.Popen([SOURCE, "-s", str(sessions), "-m", str(n), "-l",
                          "4096", "-f", "bench@client.example", "-t", rcpt,
                          "127.0.0.1:%d" % port],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _, err = p.communicate(timeout=cap)
    except subprocess.TimeoutExpired:
        p.kill()
        _, err = p.communicate()
        return time.time() - t0, "timeout", err.decode(errors="replace")[-300:]
    return time.time() - t0, p.returncode, err.decode(errors="replace")[-300:]


def w_relay(mta, n, cap):
    c0 = mta.sink.count()
    cpu0 = tree_cpu(mta.root)
    t0 = time.time()
    inj, rc, err = smtp_source(mta.port, n, 20, mta.relay_rcpt, cap)
    left = max(1.0, cap - (time.time() - t0))
    wait_for(lambda: mta.sink.count() - c0 >= n, left, 0.02)
    e2e = time.time() - t0
    got = mta.sink.count() - c0
    cpu = tree_cpu(mta.root) - cpu0
    r = {"messages": n, "delivered": got, "inject_s": round(inj, 3),
         "e2e_s": round(e2e, 3), "inject_rate": round(n / inj, 1),
         "relay_rate": round(got / e2e, 1),
         "cpu_s": round(cpu, 2),
         "cpu_per_1000": round(cpu / max(got, 1) * 1000, 3),
         "capped": got < n or rc != 0}
    if rc != 0:
        r["source_error"] = "%s: %s" % (rc, err.strip())
    # let the queue drain before the next run
    wait_for(mta.queue_empty, 30, 0.1)
    return r


def read_reply(f):
    while True:
        line = f.readline(1024)
        if not line:
            raise RuntimeError("connection closed")
        if line[3:4] != b"-":
            return line


def w_latency(mta, n, cap):
    body = b"From: <bench@client.example>\r\nTo: <%s>\r\nSubject: latency\r\n\r\n" \
        % mta.relay_rcpt.encode()
    body += (b"La de da de da " * 4 + b"\r\n") * (4096 // 62)
    lat = []
    t0 = time.time()
    s = socket.create_connection(("127.0.0.1", mta.port), 30)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.settimeout(30)
    f = s.makefile("rb")
    read_reply(f)
    s.sendall(b"EHLO client.example\r\n")
    read_reply(f)
    for i in range(n):
        if time.time() - t0 > cap:
            break
        for c in (b"MAIL FROM:<bench@client.example>",
                  b"RCPT TO:<%s>" % mta.relay_rcpt.encode(), b"DATA"):
            s.sendall(c + b"\r\n")
            r = read_reply(f)
            if r[:1] not in (b"2", b"3"):
                raise RuntimeError("%s -> %r" % (c, r))
        t = time.perf_counter()
        s.sendall(body + b".\r\n")
        r = read_reply(f)
        lat.append(time.perf_counter() - t)
        if not r.startswith(b"250"):
            raise RuntimeError("DATA end -> %r" % r)
    s.sendall(b"QUIT\r\n")
    s.close()
    lat.sort()
    wait_for(mta.queue_empty, 30, 0.1)

    def pct(p):
        return lat[min(len(lat) - 1, int(round(p / 100 * len(lat) + 0.5)) - 1)]
    return {"messages": len(lat), "p50_ms": round(pct(50) * 1000, 2),
            "p99_ms": round(pct(99) * 1000, 2),
            "capped": len(lat) < n}


def count_mbox(path, state):
    """Messages in an mbox (lines starting 'From '), read incrementally."""
    off, n, last = state.get(path, (0, 0, b"\n"))
    try:
        with open(path, "rb") as f:
            f.seek(off)
            data = f.read()
    except FileNotFoundError:
        return 0
    if data:
        buf = last + data
        n += buf.count(b"\nFrom ")
        state[path] = (off + len(data), n, buf[-6:])
    return n


def count_maildir(path, state):
    """Messages in a Maildir: the files in new/ and cur/."""
    n = 0
    for sub in ("new", "cur"):
        try:
            n += len(os.listdir(os.path.join(path, sub)))
        except FileNotFoundError:
            pass
    return n


# The local delivery modes, one row each: where user {u}'s mail lands under
# the MTA's directory, how to count it, and each MTA's config line for the
# mode ({b}: the MTA's directory, {mf}: OpenSMTPD's mail.mboxfile); an MTA
# without a line skips the mode. Both spools are 1777 directories, so every
# MTA creates the user's mbox / Maildir as the user. A new mode (lmtp) is
# one more row.
LOCAL_MODES = [
    {"mode": "mbox", "box": "mail/{u}", "count": count_mbox,
     "postern": "mailbox = mbox:{b}/mail/%u",
     "postfix": "mail_spool_directory = {b}/mail",
     "opensmtpd": 'action "local" mda "{mf} -f %{{mbox.from}} '
                  '{b}/mail/%{{user.username}}"'},
    # Postfix: a mail_spool_directory ending in "/" is a Maildir per user
    # (the same delivery as home_mailbox = Maildir/, without homes).
    {"mode": "maildir", "box": "maildir/{u}", "count": count_maildir,
     "postern": "mailbox = maildir:{b}/maildir/%u/",
     "postfix": "mail_spool_directory = {b}/maildir/",
     "opensmtpd": 'action "local" maildir "{b}/maildir/%{{user.username}}"'},
]


def local_mode(name):
    return next(m for m in LOCAL_MODES if m["mode"] == name)


def w_local(mta, mode, n, cap):
    row = local_mode(mode)
    boxes = [mta.box_path(mode, u) for u in LOCAL_USERS]
    for b in boxes:
        if os.path.isdir(b):
            shutil.rmtree(b)
        elif os.path.exists(b):
            os.unlink(b)
    per = n // len(LOCAL_USERS)
    t0 = time.time()
    procs = [subprocess.Popen([SOURCE, "-s", "2", "-m", str(per), "-l", "4096",
                               "-f", "bench@client.example", "-t",
                               "%s@localhost" % u, "127.0.0.1:%d" % mta.port],
                              stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
             for u in LOCAL_USERS]
    state = {}

    def total():
        return sum(row["count"](b, state) for b in boxes)

    def done():
        return total() >= per * len(LOCAL_USERS) and mta.queue_empty()
    wait_for(done, cap, 0.05)
    el = time.time() - t0
    got = total()
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.wait()
    r = {"mode": mode, "messages": per * len(LOCAL_USERS), "delivered": got,
         "seconds": round(el, 3), "rate": round(got / el, 1),
         "capped": got < per * len(LOCAL_USERS)}
    if r["capped"]:
        r["log_tail"] = log_tail(mta)
    return r


def w_local_lmtp(mta, n, cap):
    """The local workload with `mailbox = lmtp:unix:...` (Postfix:
    mailbox_transport) to a private Dovecot, counted in its Maildirs."""
    if shutil.which("dovecot") is None:
        return {"error": "dovecot not installed (make deps)", "capped": True}
    sys.path.insert(0, os.path.join(TOP, "tests", "integration"))
    from dovecot import Dovecot     # the tests' private store
    store = Dovecot(LOCAL_USERS, free_port(), parent=mta.base,
                    strip_domain=True)
    store.start()
    try:
        mta.set_mailbox("lmtp:unix:" + store.sock)
        per = n // len(LOCAL_USERS)
        t0 = time.time()
        procs = [subprocess.Popen(
            [SOURCE, "-s", "2", "-m", str(per), "-l", "4096", "-f",
             "bench@client.example", "-t", "%s@localhost" % u,
             "127.0.0.1:%d" % mta.port],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for u in LOCAL_USERS]
        wait_for(lambda: store.count(LOCAL_USERS) >= per * len(LOCAL_USERS)
                 and mta.queue_empty(), cap, 0.05)
        el = time.time() - t0
        got = store.count(LOCAL_USERS)
        for p in procs:
            if p.poll() is None:
                p.kill()
            p.wait()
        r = {"messages": per * len(LOCAL_USERS), "delivered": got,
             "seconds": round(el, 3), "rate": round(got / el, 1),
             "capped": got < per * len(LOCAL_USERS)}
        if r["capped"]:
            r["log_tail"] = log_tail(mta)
        return r
    finally:
        store.cleanup()
        mta.set_mailbox(None)


def log_tail(mta):
    """The last delivery-related log line, to explain a capped run."""
    try:
        with open(os.path.join(mta.base, "maillog"), errors="replace") as f:
            lines = f.read()[-20000:].splitlines()
    except OSError:
        return ""
    bad = [l for l in lines if any(k in l.lower() for k in
                                   ("error", "fail", "defer", "warn"))]
    return (bad or lines or [""])[-1][-300:]


def w_idle(mta, n, cap):
    time.sleep(1.0)
    base_rss, base_pss, base_np = tree_mem(mta.root)
    socks, ok = [], 0
    t0 = time.time()
    try:
        for i in range(n):
            if time.time() - t0 > cap:
                break
            try:
                s = socket.create_connection(("127.0.0.1", mta.port), 10)
            except OSError:
                break
            socks.append(s)
        # banner + EHLO on every socket, bounded by the cap
        pend = {}
        for s in socks:
            s.settimeout(max(0.5, cap - (time.time() - t0)))
        for s in socks:
            try:
                f = s.makefile("rb")
                if read_reply(f)[:3] != b"220":
                    continue
                s.sendall(b"EHLO client.example\r\n")
                pend[s] = f
            except (OSError, RuntimeError):
                pass
        for s, f in pend.items():
            try:
                if read_reply(f)[:3] == b"250":
                    ok += 1
            except (OSError, RuntimeError):
                pass
        time.sleep(1.0)
        rss, pss, np_ = tree_mem(mta.root)
    finally:
        for s in socks:
            s.close()
    per = max(ok, 1)
    return {"sessions": n, "established": ok,
            "seconds": round(time.time() - t0, 2),
            "idle_rss_kib": base_rss // 1024, "rss_kib": rss // 1024,
            "rss_per_session_kib": round((rss - base_rss) / per / 1024, 1),
            "pss_per_session_kib": round((pss - base_pss) / per / 1024, 1),
            "processes": np_, "idle_processes": base_np,
            "capped": ok < n}


def w_rest(mta, quiet, cap):
    """Processes, RSS and PSS of the MTA's tree after `quiet` seconds
    without traffic (its max_idle is REST_IDLE): what it holds at rest
    once its pools have grown under the workloads before."""
    time.sleep(min(quiet, cap))
    rss, pss, np_ = tree_mem(mta.root)
    return {"quiet_s": quiet, "processes": np_, "rss_kib": rss // 1024,
            "pss_kib": pss // 1024}


def rest_rows():
    """The table rows of w_rest."""
    return [("processes at rest", "rest", "processes", "lower"),
            ("PSS KiB at rest", "rest", "pss_kib", "lower"),
            ("RSS KiB at rest", "rest", "rss_kib", "lower")]


def fsync_ceiling(base, quick):
    exe = os.path.join(CACHE, "fsync_ceiling")
    src = os.path.join(HERE, "fsync_ceiling.c")
    os.makedirs(CACHE, exist_ok=True)
    if not os.path.exists(exe) or os.path.getmtime(exe) < os.path.getmtime(src):
        subprocess.run(["cc", "-O2", "-Wall", "-Wextra", "-Werror", "-pthread",
                        "-o", exe, src], check=True)
    out = {}
    for th in (1, 20):
        runs = []
        for rep in range(3):
            d = tempfile.mkdtemp(prefix="fsync-", dir=base)
            per = (1000 if th == 1 else 100) // (4 if quick else 1)
            r = subprocess.run([exe, d, str(th), str(per), "10"],
                               capture_output=True, text=True, timeout=60)
            runs.append(float(r.stdout.split()[2]))
            shutil.rmtree(d, ignore_errors=True)
        out["threads_%d" % th] = summary(runs)
    return out


def summary(vals):
    vals = [v for v in vals if v is not None]
    if not vals:
        return None
    return {"median": round(statistics.median(vals), 3),
            "min": round(min(vals), 3), "max": round(max(vals), 3),
            "runs": vals}


# --- the run -------------------------------------------------------------
def machine(base):
    df = subprocess.run(["df", "-hT", base], capture_output=True,
                        text=True).stdout.strip().splitlines()
    lsblk = subprocess.run(["lsblk", "-d", "-o", "NAME,SIZE,ROTA,TYPE,MODEL"],
                           capture_output=True, text=True).stdout.strip()
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((l.split(":", 1)[1].strip() for l in f
                        if l.startswith("model name")), "")
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return {"nproc": os.cpu_count(), "cpu": cpu,
            "mem_gib": round(mem / 2**30, 1), "kernel": platform.release(),
            "df": df[-1] if df else "", "lsblk": lsblk,
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(
                timespec="seconds")}


def run_mta(cls, base, sink, P, budget_end, results):
    name = cls.name
    res = results.setdefault(name, {})
    mta = cls(base, sink)
    try:
        mta.setup()
        mta.start()
    except Exception as e:          # reported in the table, run continues
        res["unavailable"] = str(e)[:300]
        log("%s: not available: %s" % (name, e))
        try:
            mta.stop()
        except Exception:
            pass
        return
    log("%s: started (pid %d, port %d)" % (name, mta.root, mta.port))
    try:
        # warm-up: process pools, page cache; not measured
        w_relay(mta, P["warmup"], 30)

        def rep(wname, fn, *a, reps=None):
            runs = []
            for i in range(reps or P["reps"]):
                if time.time() > budget_end:
                    res.setdefault("skipped", []).append(
                        "%s rep %d: time budget" % (wname, i + 1))
                    break
                try:
                    r = fn(mta, *a)
                except Exception as e:
                    r = {"error": str(e)[:200], "capped": True}
                runs.append(r)
                log("%s %s: %s" % (name, wname, json.dumps(r)))
                if r.get("capped"):
                    break           # a capped run is not repeated
            res[wname] = runs
        if "relay" in P["workloads"]:
            rep("relay", w_relay, P["relay_n"], P["relay_cap"])
        if "latency" in P["workloads"]:
            rep("latency", w_latency, P["lat_n"], P["lat_cap"])
        if "rest" in P["workloads"]:
            rep("rest", w_rest, REST_IDLE + 5, 60, reps=1)
        for mode in [m["mode"] for m in LOCAL_MODES]:
            if "local" not in P["workloads"]:
                break
            if not mta.set_local_mode(mode):
                res.setdefault("skipped", []).append(
                    "local %s: no such mode configured" % mode)
                continue
            rep("local_" + mode, w_local, mode, P["local_n"],
                P["local_cap"])
        if "local" in P["workloads"] and hasattr(mta, "set_mailbox"):
            rep("local_lmtp", w_local_lmtp, P["local_n"], P["local_cap"])

        def idle_fresh(m, n, cap):
            # fresh instance for every rep: no pooled or lingering
            # (e.g. Postfix's idle smtpd) processes in the baseline
            m.stop()
            m.start()
            return w_idle(m, n, cap)
        for n in P["idle"] if "idle" in P["workloads"] else []:
            reps = P["reps"] if n <= 500 else 1
            rep("idle_%d" % n, idle_fresh, n, P["idle_cap"], reps=reps)
    finally:
        mta.stop()
        log("%s: stopped" % name)


def med(runs, key):
    vals = [r[key] for r in runs or [] if key in r]
    return summary(vals)


def build_table(results, ceiling):
    rows = [("relay msg/s (e2e)", "relay", "relay_rate", "higher"),
            ("injection msg/s", "relay", "inject_rate", "higher"),
            ("latency p50 ms", "latency", "p50_ms", "lower"),
            ("latency p99 ms", "latency", "p99_ms", "lower")]
    rows += [("local delivery msg/s (%s)" % m["mode"], "local_" + m["mode"],
              "rate", "higher") for m in LOCAL_MODES]
    rows += [("local delivery msg/s (lmtp)", "local_lmtp", "rate", "higher")]
    rows += [("idle RSS KiB/session 500", "idle_500", "rss_per_session_kib", "lower"),
             ("idle PSS KiB/session 500", "idle_500", "pss_per_session_kib", "lower"),
             ("idle RSS KiB/session 2000", "idle_2000", "rss_per_session_kib", "lower"),
             ("idle PSS KiB/session 2000", "idle_2000", "pss_per_session_kib", "lower"),
             ("CPU s per 1000 msgs (relay)", "relay", "cpu_per_1000", "lower")]
    rows += rest_rows()
    mtas = ["postern", "postfix", "opensmtpd"]
    table = []
    for label, w, k, _ in rows:
        line = {"metric": label}
        for m in mtas:
            r = results.get(m, {})
            if "unavailable" in r:
                line[m] = "n/a"
                continue
            s = med(r.get(w), k)
            capped = any(x.get("capped") for x in r.get(w) or [])
            if s is None:
                line[m] = "skipped"
            else:
                line[m] = "%g [%g-%g]%s" % (s["median"], s["min"], s["max"],
                                            " (capped)" if capped else "")
                line[m + "_median"] = s["median"]
        a, b = line.get("postern_median"), line.get("postfix_median")
        line["ratio"] = "%.3g" % (a / b) if a is not None and b else "-"
        table.append(line)
    c20 = (ceiling or {}).get("threads_20") or {}
    inj = line_of(table, "injection msg/s").get("postern_median")
    frac = (inj / c20["median"]) if inj and c20.get("median") else None
    return table, frac


def line_of(table, label):
    return next(l for l in table if l["metric"] == label)


def fmt_table(table, results, ceiling, frac):
    w0 = max(len(l["metric"]) for l in table) + 2
    cols = ["postern", "postfix", "opensmtpd"]
    cw = 28
    out = ["%-*s" % (w0, "metric") + "".join("%-*s" % (cw, c) for c in cols)
           + "postern/postfix"]
    for l in table:
        out.append("%-*s" % (w0, l["metric"]) +
                   "".join("%-*s" % (cw, l[c]) for c in cols) + l["ratio"])
    for m in cols:
        if "unavailable" in results.get(m, {}):
            out.append("%s: not available: %s" % (m, results[m]["unavailable"]))
        for s in results.get(m, {}).get("skipped", []):
            out.append("%s: skipped %s" % (m, s))
    if ceiling:
        for k in ("threads_1", "threads_20"):
            s = ceiling.get(k)
            if s:
                out.append("fsync ceiling %s: %g msg/s [%g-%g]" % (
                    k.replace("_", " "), s["median"], s["min"], s["max"]))
    if frac is not None:
        out.append("postern injection / 20-thread fsync ceiling: %.2f" % frac)
    out.extend(pipeline_ratios(table))
    out.append("cells: median [min-max] of the repetitions")
    return "\n".join(out)


def pipeline_ratios(table):
    """Each MTA's end-to-end relay rate over its own injection rate in the
    same runs (1.0: delivery keeps up with acceptance)."""
    out = []
    e2e = line_of(table, "relay msg/s (e2e)")
    inj = line_of(table, "injection msg/s")
    for m in ("postern", "postfix", "opensmtpd"):
        a, b = e2e.get(m + "_median"), inj.get(m + "_median")
        if a is not None and b:
            out.append("%s e2e / %s injection: %.2f" % (m, m, a / b))
    return out


PROFILE_HEAD = "## Where the time goes"


def saved_profile(path):
    """The hand-written profile section of RESULTS.md (from its heading
    to the end), kept across runs; "" when there is none."""
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        return ""
    i = text.find(PROFILE_HEAD)
    return text[i:] if i >= 0 else ""


def keep_profile(path, section):
    if section:
        with open(path, "a") as f:
            f.write("\n" + section)


def write_md(path, P, mach, text, results, quick):
    cmd = ("smtp-source -s 20 -m %d -l 4096 -f bench@client.example "
           "-t sink@remote.example 127.0.0.1:PORT" % P["relay_n"])
    with open(path, "w") as f:
        f.write("""# postern benchmark results

Generated by `make bench` (bench/run.py{q}) on {date}.

## Machine
- nproc: {nproc}; CPU: {cpu}; memory: {mem} GiB; kernel {kern}
- disk (queue filesystem, `df -hT`): `{df}`
- `lsblk -d`:
```
{lsblk}
```

## Results
```
{text}
```

## Commands and workloads
- sink: `smtp-sink -c -u nobody 127.0.0.2:SINKPORT 1024` (Postfix package)
- 1/2/6 relay + injection + CPU: `{cmd}` ({reps} reps after a
  {wu}-message warm-up); e2e = start of smtp-source until the sink counted
  the last message; injection = until smtp-source exited (last 250 + QUIT);
  CPU = utime+stime (+ reaped children) of the MTA's process tree from /proc.
- 3 latency: one connection, {lat} sequential 4 KiB messages, time from
  sending the final `.` to the `250`.
- 4 local, per local delivery mode ({modes}): 10 x `smtp-source -s 2
  -m {lpu} -l 4096 -t pstbenchN@localhost` (20 sessions, {ln} messages),
  until every message is in the 10 mailboxes and the queue is empty; each
  MTA restarted with the mode's line: {lines}.
  `lmtp`: the same with postern's `mailbox = lmtp:unix:...` or Postfix's
  `mailbox_transport = lmtp:unix:...` to a private Dovecot
  (dovecot-lmtpd, Maildir, tests/integration/dovecot.py), until every
  message is in its new/.
- 5 idle: N connections that read the banner, send EHLO and wait; sum of
  RSS (and PSS) of the MTA's processes minus the idle sum, per session.
  Limits raised for it: postern `max_sessions = 2100`, Postfix smtpd
  maxproc 2100 in master.cf, RLIMIT_NOFILE of every MTA {nofile}.
- at rest: after the relay and latency workloads, {rest} s without
  traffic (both MTAs run with `max_idle = {ri}s`, Postfix's default being
  100 s), the number of processes of the MTA's tree and the sum of their
  RSS and PSS (`/proc/PID/smaps_rollup`).
- fsync ceiling: `bench/fsync_ceiling.c` (create + write 4 KiB + fsync +
  rename + fsync(dir) per message), 1 and 20 threads, same filesystem.
- Every run is capped in time; a capped run is marked and not repeated.

## Configs
bench/configs/{{postern,postfix,opensmtpd}}/ ($BASE = the run's private
directory, $PORT/$SINKPORT = the ports it picked). All: relay everything
non-local to [127.0.0.2]:SINKPORT, 20 parallel connections toward it, fsync
on (each MTA's default), queue on the same filesystem ({same}), log to a
file.
""".format(q=" --quick" if quick else "", date=mach["date"],
           nproc=mach["nproc"], cpu=mach["cpu"], mem=mach["mem_gib"],
           kern=mach["kernel"], df=mach["df"], lsblk=mach["lsblk"],
           text=text, cmd=cmd, reps=P["reps"], wu=P["warmup"],
           lat=P["lat_n"], lpu=P["local_n"] // 10, ln=P["local_n"],
           modes=", ".join(m["mode"] for m in LOCAL_MODES),
           lines="; ".join("%s: %s" % (m["mode"], ", ".join(
               "`%s`" % m[k].replace("{{", "{").replace("}}", "}")
               for k in ("postern", "postfix", "opensmtpd") if m.get(k)))
               for m in LOCAL_MODES),
           nofile=resource.getrlimit(resource.RLIMIT_NOFILE)[0],
           rest=REST_IDLE + 5, ri=REST_IDLE,
           same=results.get("_same_fs", "?")))


def ensure_users():
    created = []
    for u in LOCAL_USERS:
        try:
            pwd.getpwnam(u)
        except KeyError:
            subprocess.run(["useradd", "-M", "-N", "-d", "/nonexistent", "-s",
                            "/usr/sbin/nologin", u], check=True)
            created.append(u)
    return created


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true",
                    help="small counts, for trying the harness")
    ap.add_argument("--mtas", default="postern,postfix,opensmtpd")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--workloads", default="relay,latency,rest,local,idle",
                    help="which of relay,latency,rest,local,idle to run (the "
                    "warm-up always runs)")
    ap.add_argument("--budget", type=float, default=780,
                    help="seconds for the whole run (default 13 min)")
    a = ap.parse_args()
    if a.quick:
        P = dict(reps=min(a.reps, 2), warmup=50, relay_n=500, relay_cap=30,
                 lat_n=50, lat_cap=15, local_n=200, local_cap=20,
                 idle=[100, 500], idle_cap=20)
    else:
        P = dict(reps=a.reps, warmup=200, relay_n=5000, relay_cap=60,
                 lat_n=300, lat_cap=30, local_n=2000, local_cap=45,
                 idle=[500, 2000], idle_cap=90)
    P["workloads"] = a.workloads.split(",")
    for exe in (SOURCE, SINK):
        if not os.access(exe, os.X_OK):
            sys.exit("%s missing: run `make deps` (package postfix)" % exe)
    if os.geteuid() != 0:
        sys.exit("bench/run.py must run as root (reference MTAs, local users)")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, 65536) if hard != resource.RLIM_INFINITY else 65536
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, want), hard))
    base = tempfile.mkdtemp(prefix="postern-bench-", dir="/var/tmp")
    os.chmod(base, 0o755)
    results = {"params": P}
    try:
        results["_same_fs"] = "same device" if os.stat(base).st_dev == \
            os.stat("/var/spool").st_dev else "DIFFERENT devices"
    except OSError:
        pass
    created = ensure_users()
    sink = Sink(base)
    mach = machine(base)
    log("machine:", json.dumps({k: v for k, v in mach.items() if k != "lsblk"}))
    ceiling = None
    try:
        sink.start()
        ceiling = fsync_ceiling(base, a.quick)
        log("fsync ceiling:", json.dumps(ceiling))
        classes = {"postern": Postern, "postfix": Postfix,
                   "opensmtpd": OpenSMTPD}
        names = [n for n in a.mtas.split(",") if n in classes]
        t_end = T_START + a.budget
        for i, n in enumerate(names):
            # each MTA gets an equal share of what is left
            share = (t_end - time.time()) / (len(names) - i)
            run_mta(classes[n], base, sink, P, time.time() + share - 20,
                    results)
    finally:
        sink.stop()
        OpenSMTPD.cleanup_system()
        for u in created:
            subprocess.run(["userdel", u], check=False)
        shutil.rmtree(base, ignore_errors=True)
    table, frac = build_table(results, ceiling)
    text = fmt_table(table, results, ceiling, frac)
    print()
    print(text)
    os.makedirs(RESULTS, exist_ok=True)
    out = {"machine": mach, "params": P, "quick": a.quick,
           "fsync_ceiling": ceiling, "injection_over_ceiling20": frac,
           "table": table,
           "runs": {k: v for k, v in results.items() if k not in ("params",)},
           "elapsed_s": round(time.time() - T_START, 1)}
    with open(os.path.join(RESULTS, "LATEST.json"), "w") as f:
        json.dump(out, f, indent=1)
    profile = saved_profile(os.path.join(HERE, "RESULTS.md"))
    write_md(os.path.join(HERE, "RESULTS.md"), P, mach, text, results, a.quick)
    keep_profile(os.path.join(HERE, "RESULTS.md"), profile)
    log("wrote bench/results/LATEST.json and bench/RESULTS.md")


if __name__ == "__main__":
    main()
