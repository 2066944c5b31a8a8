"""Step 2 item 4, the workers' own confinement after exec (conf/confine.c,
conf/worker_confine.c, smtpd/sandbox.c): every worker is non-dumpable (a
sibling running as the same user cannot ptrace it), has no core limit and
no_new_privs; smtpd runs under a seccomp filter; smtpd, cleanup, qmgr,
remote and anvil are under Landlock: made (by ptrace, as root) to open a
file outside their allow-list, the kernel answers EACCES, while a file
inside it opens."""

import ctypes
import errno
import os
import platform
import pwd
import signal
import smtplib
import subprocess
import sys

import pytest

from conftest import IS_ROOT, wait_for
from test_submission import sub_factory  # noqa: F401 (fixture)

pytestmark = pytest.mark.skipif(not IS_ROOT, reason="needs root: workers "
                                "run as nobody, ptrace of another uid")

CONFINED = ("smtpd", "cleanup", "qmgr", "remote", "anvil")


def status(pid):
    with open("/proc/%d/status" % pid) as f:
        return dict(line.rstrip("\n").split(":\t", 1) for line in f
                    if ":\t" in line)


def core_limit(pid):
    with open("/proc/%d/limits" % pid) as f:
        for line in f:
            if line.startswith("Max core file size"):
                return line.split()[4:6]
    return None


# poll, epoll_wait, ppoll, epoll_pwait, epoll_pwait2 (x86_64 numbers)
MAIN_LOOP_WAITS = {"7", "232", "271", "281", "441"}


def in_main_loop(pid):
    """pid's main thread sleeps in its event loop: start-up is over."""
    try:
        with open("/proc/%d/syscall" % pid) as f:
            return f.read().split()[0] in MAIN_LOOP_WAITS
    except (OSError, IndexError):
        return False


def workers(p, want=CONFINED + ("local",)):
    """{comm: pid} of one process per worker program in want, each past
    its start-up (waiting in its event loop)."""
    def found():
        got = {}
        for pid, comm, _ in p.children():
            if comm in want and comm not in got and in_main_loop(pid):
                got[comm] = pid
        return got if len(got) == len(want) else None
    return wait_for(found, what="workers %s" % (want,))


def test_workers_not_dumpable_no_core_no_new_privs(postern):
    nobody = pwd.getpwnam("nobody").pw_uid
    for comm, pid in workers(postern).items():
        st = status(pid)
        assert core_limit(pid) == ["0", "0"], comm
        if comm == "local":
            continue        # keeps root: /proc is root's anyway, and it
            # runs recipients' commands (set-id procmail): no no_new_privs
        assert st["NoNewPrivs"].strip() == "1", comm
        assert int(st["Uid"].split()[0]) == nobody, comm
        # /proc/PID/* of a non-dumpable process belong to root
        assert os.stat("/proc/%d/status" % pid).st_uid == 0, \
            "%s (pid %d) is dumpable" % (comm, pid)


def test_smtpd_runs_under_seccomp_and_serves(postern):
    pid = workers(postern, ("smtpd",))["smtpd"]
    assert status(pid)["Seccomp"].strip() == "2"
    c = smtplib.SMTP("127.0.0.1", postern.port, timeout=20)
    c.ehlo("client.example")
    c.sendmail("someone@client.example", [postern.users["alice"] +
               "@test.example"], b"Subject: sandboxed\r\n\r\nhello\r\n")
    c.quit()
    postern.wait_mbox(postern.users["alice"], b"Subject: sandboxed")
    assert status(pid)["Seccomp"].strip() == "2"
    with open(postern.logfile, errors="replace") as f:
        assert "seccomp:" not in f.read()


ATTACH_AS_USER = r"""
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.ptrace.restype = ctypes.c_long
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p,
                        ctypes.c_void_p]
pid = int(sys.argv[1])
if libc.ptrace(16, pid, None, None) == 0:       # PTRACE_ATTACH
    os.waitpid(pid, 0x40000000)                 # __WALL
    libc.ptrace(17, pid, None, None)            # PTRACE_DETACH
    print("attached")
else:
    print("errno", ctypes.get_errno())
"""


def test_sibling_cannot_ptrace_smtpd(postern):
    """A compromised worker (same uid as smtpd) tries to attach to smtpd,
    which holds the TLS key and SASL state."""
    pid = workers(postern, ("smtpd",))["smtpd"]
    nobody = pwd.getpwnam("nobody")

    def drop():
        os.setgroups([])
        os.setgid(nobody.pw_gid)
        os.setuid(nobody.pw_uid)
    r = subprocess.run([sys.executable, "-c", ATTACH_AS_USER, str(pid)],
                       preexec_fn=drop, capture_output=True, text=True,
                       timeout=20)
    assert r.stdout.strip() == "errno %d" % errno.EPERM, r.stdout + r.stderr


# --- making a running worker call openat(2), by ptrace (x86_64) ---------

class Regs(ctypes.Structure):
    _fields_ = [(n, ctypes.c_ulonglong) for n in (
        "r15 r14 r13 r12 rbp rbx r11 r10 r9 r8 rax rcx rdx rsi rdi "
        "orig_rax rip cs eflags rsp ss fs_base gs_base ds es fs gs").split()]


PTRACE_CONT, PTRACE_SINGLESTEP = 7, 9
PTRACE_GETREGS, PTRACE_SETREGS = 12, 13
PTRACE_ATTACH, PTRACE_DETACH = 16, 17
SYS_CLOSE, SYS_UMASK, SYS_OPENAT = 3, 95, 257
AT_FDCWD = (1 << 64) - 100


class Tracer:
    """Attach to pid (stopped in a system call, as an idle worker is) and
    run system calls in it through its own `syscall` instruction."""

    def __init__(self, pid):
        self.pid = pid
        self.detach_sig = 0     # a signal the last call raised
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.libc.ptrace.restype = ctypes.c_long
        self.libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long,
                                     ctypes.c_void_p, ctypes.c_void_p]

    def ptrace(self, req, addr=None, data=None):
        if self.libc.ptrace(req, self.pid, addr, data) == -1:
            e = ctypes.get_errno()
            raise OSError(e, "ptrace %d: %s" % (req, os.strerror(e)))

    def __enter__(self):
        self.ptrace(PTRACE_ATTACH)
        os.waitpid(self.pid, 0x40000000)
        self.saved = Regs()
        self.ptrace(PTRACE_GETREGS, None, ctypes.byref(self.saved))
        self.mem = os.open("/proc/%d/mem" % self.pid, os.O_RDWR)
        self.insn = self.saved.rip - 2
        assert os.pread(self.mem, 2, self.insn) == b"\x0f\x05", \
            "not stopped after a syscall instruction"
        # scratch memory: well below the stack pointer and its red zone
        self.scratch = self.saved.rsp - 4096
        self.old = os.pread(self.mem, 512, self.scratch)
        return self

    def __exit__(self, *exc):
        os.pwrite(self.mem, self.old, self.scratch)
        os.close(self.mem)
        self.ptrace(PTRACE_SETREGS, None, ctypes.byref(self.saved))
        if self.detach_sig:
            # Deliver it (same signal: its siginfo is kept); the single
            # step's SIGTRAP, still pending, stops it once more: drop that.
            self.ptrace(PTRACE_CONT, None, self.detach_sig)
            _, st = os.waitpid(self.pid, 0x40000000)
            if not os.WIFSTOPPED(st):
                return
            sig = os.WSTOPSIG(st)
            self.ptrace(PTRACE_DETACH, None,
                        0 if sig == signal.SIGTRAP else sig)
            return
        self.ptrace(PTRACE_DETACH)

    def syscall(self, nr, *args):
        r = Regs.from_buffer_copy(self.saved)
        r.orig_rax = (1 << 64) - 1      # no syscall restart on the way
        r.rax = nr
        for name, v in zip(("rdi", "rsi", "rdx", "r10"), args):
            setattr(r, name, v)
        r.rip = self.insn
        self.ptrace(PTRACE_SETREGS, None, ctypes.byref(r))
        self.ptrace(PTRACE_SINGLESTEP)
        _, st = os.waitpid(self.pid, 0x40000000)
        if os.WIFSTOPPED(st) and os.WSTOPSIG(st) != signal.SIGTRAP:
            self.detach_sig = os.WSTOPSIG(st)   # delivered on detach
        self.ptrace(PTRACE_GETREGS, None, ctypes.byref(r))
        return ctypes.c_longlong(r.rax).value

    def open(self, path):
        """openat() in the tracee: -errno or 0 (the fd is closed)."""
        b = path.encode() + b"\0"
        assert len(b) < 512
        os.pwrite(self.mem, b, self.scratch)
        fd = self.syscall(SYS_OPENAT, AT_FDCWD, self.scratch, os.O_RDONLY)
        if fd >= 0:
            self.syscall(SYS_CLOSE, fd)
            return 0
        return fd


@pytest.mark.skipif(platform.machine() != "x86_64",
                    reason="the ptrace syscall injection is x86_64 only")
def test_landlock_refuses_files_outside_the_allow_list(postern):
    outside = os.path.join(postern.base, "outside.txt")
    with open(outside, "w") as f:
        f.write("not for workers\n")
    os.chmod(outside, 0o644)        # nobody may read it, Landlock aside
    mbox = os.path.join(postern.mail, "outside-mbox")
    with open(mbox, "w") as f:
        f.write("")
    os.chmod(mbox, 0o644)
    got = {}
    for comm, pid in workers(postern, CONFINED).items():
        with Tracer(pid) as t:
            got[comm] = (t.open(postern.conf), t.open(outside),
                         t.open(mbox), t.open("/etc/passwd"))
    for comm, (conf, out, mb, passwd) in got.items():
        assert conf == 0, "%s cannot read its config: %d" % (comm, conf)
        assert passwd == 0, "%s cannot read /etc/passwd: %d" % (comm, passwd)
        assert out == -errno.EACCES, "%s opened %s: %d" % (comm, outside,
                                                           out)
        assert mb == -errno.EACCES, "%s opened %s: %d" % (comm, mbox, mb)
    # and they still work
    c = smtplib.SMTP("127.0.0.1", postern.port, timeout=20)
    c.sendmail("someone@client.example", [postern.users["alice"] +
               "@test.example"], b"Subject: after ptrace\r\n\r\nhi\r\n")
    c.quit()
    postern.wait_mbox(postern.users["alice"], b"Subject: after ptrace")


@pytest.mark.skipif(platform.machine() != "x86_64",
                    reason="the ptrace syscall injection is x86_64 only")
def test_smtpd_ends_on_a_system_call_outside_its_filter(postern):
    """smtpd made to call umask(2), which it never needs: it ends with the
    reason in the log and master starts a new one that serves."""
    pid = workers(postern, ("smtpd",))["smtpd"]
    with Tracer(pid) as t:
        t.syscall(SYS_UMASK, 0o22)
        assert t.detach_sig == signal.SIGSYS
    wait_for(lambda: "seccomp: system call %d" % SYS_UMASK in
             postern.log(), what="the seccomp log line")
    def gone():
        try:
            return status(pid)["State"].startswith("Z")
        except OSError:
            return True
    wait_for(gone, what="smtpd gone")
    wait_for(lambda: len([k for k, comm, _ in postern.children("smtpd")
                          if k != pid and in_main_loop(k)]) == 2,
             what="a new smtpd beside the other listener's")
    for port in (postern.port, postern.sub_port):
        c = smtplib.SMTP("127.0.0.1", port, timeout=20)
        assert c.ehlo("client.example")[0] == 250
        c.quit()


def test_smtpd_reads_a_sasldb_outside_the_config_dir(sub_factory):
    """APP.conf's sasldb_path names a directory of its own: smtpd's
    allow-list follows it (Cyrus opens sasldb at each AUTH)."""
    import base64
    import shutil
    from test_submission import PASSWORD, ctx
    s = sub_factory()
    elsewhere = os.path.join(s.p.base, "sasl-db")
    os.makedirs(elsewhere)
    os.chmod(elsewhere, 0o755)
    moved = os.path.join(elsewhere, "sasldb2")
    shutil.move(s.sasldb, moved)
    with open(s.app_conf, "w") as f:
        f.write("\n".join(l if not l.startswith("sasldb_path:") else
                          "sasldb_path: %s" % moved
                          for l in s.extra_app_lines) + "\n")
    s.start()
    workers(s.p, ("smtpd",))
    c = smtplib.SMTP("127.0.0.1", s.p.sub_port, timeout=20)
    c.ehlo("client.example")
    c.starttls(context=ctx())
    c.ehlo("client.example")
    plain = base64.b64encode(b"\0alice\0" + PASSWORD.encode()).decode()
    code, text = c.docmd("AUTH", "PLAIN " + plain)
    c.quit()
    assert code == 235, text
