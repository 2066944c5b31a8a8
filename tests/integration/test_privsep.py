"""Step 2 items 1-5: the privilege boundary around master (root). Root
never acts on a path the unprivileged user controls; the CLI signals only
its own master; workers start clean (no terminal, no inherited
environment, no new privileges) and whatever directory the programs sit
in. Run as root, as CI does."""

import os
import pwd
import shutil
import signal
import smtplib
import stat
import subprocess
import tempfile
import time

import pytest

from conftest import BUILD, IS_ROOT, POSTERN, Postern, wait_for

pytestmark = pytest.mark.skipif(not IS_ROOT, reason="needs root")

PROGRAMS = ["smtpd", "cleanup", "qmgr", "local", "remote", "anvil", "showq"]
ALLOWED_ENV = {"PATH", "TZ", "POSTERN_LISTEN_FDS", "POSTERN_TLS_KEY_FD",
               "POSTERN_STATUS_FD",
               "ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"}


def nobody():
    pw = pwd.getpwnam("nobody")
    return pw.pw_uid, pw.pw_gid


def as_user(fn):
    """Run fn() in a child that is `nobody` (the configured user), as a
    compromised worker would; True if it returned without an error."""
    uid, gid = nobody()
    pid = os.fork()
    if pid == 0:
        try:
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)
            fn()
            os._exit(0)
        except BaseException:
            os._exit(1)
    _, st = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(st) == 0


def victim(base):
    """A root-owned file that root must never write, chown or chmod."""
    path = os.path.join(base, "victim")
    with open(path, "w") as f:
        f.write("root's secret\n")
    os.chmod(path, 0o600)
    return path


def assert_untouched(path):
    st = os.lstat(path)
    assert (st.st_uid, st.st_gid) == (0, 0)
    assert stat.S_IMODE(st.st_mode) == 0o600
    with open(path) as f:
        assert f.read() == "root's secret\n"


def stop_foreground(p, proc, master_fd):
    """Stop a `start --foreground` master and close its terminal."""
    p.cli("stop", check=False)
    try:
        proc.wait(timeout=60)
    finally:
        os.close(master_fd)


def send(p, rcpt, subject):
    s = smtplib.SMTP("127.0.0.1", p.port, timeout=20)
    s.sendmail("sender@client.test", [rcpt],
               "Subject: %s\r\n\r\nbody\r\n" % subject)
    s.quit()


def libexec_copy(progs=PROGRAMS, replace=None):
    """The programs copied into a 0700 root directory that the user
    cannot traverse (as a checkout under /root is on Debian)."""
    top = tempfile.mkdtemp(prefix="postern-0700-", dir="/tmp")
    os.chmod(top, 0o700)
    d = os.path.join(top, "inner", "libexec")
    os.makedirs(d)
    for prog in progs:
        src = (replace or {}).get(prog, os.path.join(BUILD, prog))
        shutil.copy2(src, os.path.join(d, prog))
    return top, d


# ------------------------------------------------------- 1: queue tree

def test_queue_root_and_pid_dir_are_roots(postern):
    uid, _ = nobody()
    for rel, mode in (("", 0o755), ("pid", 0o755)):
        st = os.lstat(os.path.join(postern.queue, rel))
        assert st.st_uid == 0, rel
        assert stat.S_IMODE(st.st_mode) == mode, rel
    for rel in ("incoming", "active", "deferred", "private", "public"):
        assert os.lstat(os.path.join(postern.queue, rel)).st_uid == uid
    st = os.lstat(os.path.join(postern.queue, "pid", "master.pid"))
    assert st.st_uid == 0 and stat.S_IMODE(st.st_mode) == 0o644
    # the user can no longer plant anything in pid/
    assert not as_user(lambda: os.symlink(
        "/etc/shadow", os.path.join(postern.queue, "pid", "x")))


def test_old_user_owned_tree_is_fixed_and_symlinks_not_followed(
        make_postern):
    p = make_postern(start=False)
    target = victim(p.base)
    uid, gid = nobody()
    pid_dir = os.path.join(p.queue, "pid")
    os.makedirs(pid_dir)
    for d in (p.queue, pid_dir):
        os.chown(d, uid, gid)
        os.chmod(d, 0o700 if d == pid_dir else 0o755)
    # what a compromised worker plants in the tree of an older version
    assert as_user(lambda: [
        os.symlink(target, os.path.join(pid_dir, n))
        for n in ("status.tmp", "status", "master.pid")])
    p.start()
    time.sleep(2.5)		# status is rewritten every second
    assert_untouched(target)
    st = os.lstat(pid_dir)
    assert st.st_uid == 0 and stat.S_IMODE(st.st_mode) == 0o755
    assert os.lstat(p.queue).st_uid == 0
    assert stat.S_ISREG(os.lstat(os.path.join(pid_dir, "status")).st_mode)
    assert p.cli("status").returncode == 0


# -------------------------------------------------------- 2: sockets

def test_sockets_are_born_owned_and_never_chowned_by_path(make_postern):
    p = make_postern(start=False)
    target = victim(p.base)
    trace = os.path.join(p.base, "strace.out")
    tr = subprocess.Popen(
        ["strace", "-f", "-qq", "-o", trace, "-e",
         "trace=chown,lchown,fchownat,chmod,fchmodat", POSTERN, "-c",
         p.conf, "start"], env=p.env, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    try:
        # master.pid is written once every socket is bound
        wait_for(p.master_pid, what="master up")
        uid, gid = nobody()
        for rel, mode in (("private/cleanup", 0o600),
                          ("public/cleanup", 0o666),
                          ("public/showq", 0o666),
                          ("public/pickup", 0o666),
                          ("private/master", 0o600)):
            st = os.lstat(os.path.join(p.queue, rel))
            assert stat.S_ISSOCK(st.st_mode), rel
            assert (st.st_uid, st.st_gid) == (uid, gid), rel
            assert stat.S_IMODE(st.st_mode) == mode, rel
        # The user swaps a socket for a symlink to a root file; a
        # restart must not chown or chmod the target.
        sock = os.path.join(p.queue, "public", "cleanup")
        assert as_user(lambda: (
            os.symlink(target, sock + ".new"),
            os.rename(sock + ".new", sock)))
        p.cli("stop")
        p.cli("start")
        wait_for(lambda: p.port_open(p.port), what="smtp port")
        assert_untouched(target)
        assert stat.S_ISSOCK(os.lstat(sock).st_mode)
    finally:
        p.stop()
        tr.wait(timeout=60)
    with open(trace) as f:
        calls = [l for l in f if p.base in l]
    assert calls == [], "root changed owner/mode by path: %r" % calls


# ----------------------------------------------------------- 3: CLI

def test_cli_does_not_signal_a_forged_pid(postern):
    sleeper = subprocess.Popen(["sleep", "300"])
    pidfile = os.path.join(postern.queue, "pid", "master.pid")
    real = postern.master_pid()
    try:
        # rewrite the content in place: the master's locks stay
        with open(pidfile, "r+") as f:
            f.truncate(0)
            f.write("%d\n" % sleeper.pid)
        r = postern.cli("stop", check=False)
        assert r.returncode != 0
        assert "not stopping" in r.stderr and str(real) in r.stderr
        r = postern.cli("reload", check=False)
        assert r.returncode != 0 and "not reloading" in r.stderr
        time.sleep(0.3)
        assert sleeper.poll() is None, "postern signalled a stranger"
        os.kill(real, 0)		# master untouched too
    finally:
        sleeper.kill()
        sleeper.wait()
        with open(pidfile, "r+") as f:
            f.truncate(0)
            f.write("%d\n" % real)
    assert postern.cli("stop").returncode == 0


def test_cli_does_not_signal_an_unlocked_pid(make_postern):
    p = make_postern(start=False)
    sleeper = subprocess.Popen(["sleep", "300"])
    try:
        os.makedirs(os.path.join(p.queue, "pid"))
        with open(os.path.join(p.queue, "pid", "master.pid"), "w") as f:
            f.write("%d\n" % sleeper.pid)
        r = p.cli("stop", check=False)
        assert r.returncode == 0 and "not running" in r.stdout
        assert sleeper.poll() is None
    finally:
        sleeper.kill()
        sleeper.wait()


# ------------------------------------------------------ 4: pre-exec

def test_foreground_workers_get_no_terminal_env_or_privs(make_postern):
    import pty
    p = make_postern(start=False)
    master_fd, slave_fd = pty.openpty()
    env = dict(p.env, PSTTEST_SECRET="admin-shell-variable", HOME="/root")
    proc = subprocess.Popen([POSTERN, "-c", p.conf, "start", "--foreground"],
                            env=env, stdin=slave_fd, stdout=slave_fd,
                            stderr=slave_fd)
    os.close(slave_fd)
    try:
        wait_for(lambda: p.port_open(p.port), what="smtp port")
        kids = wait_for(lambda: len(p.children()) >= 6 and p.children(),
                        what="workers")
        for pid, comm, _ in kids:
            try:
                for fd in (0, 1, 2):
                    link = os.readlink("/proc/%d/fd/%d" % (pid, fd))
                    assert link == "/dev/null", (comm, fd, link)
                with open("/proc/%d/environ" % pid, "rb") as f:
                    names = {v.split(b"=", 1)[0].decode()
                             for v in f.read().split(b"\0") if v}
                assert names <= ALLOWED_ENV, (comm, names - ALLOWED_ENV)
                with open("/proc/%d/status" % pid) as f:
                    # local keeps root for set-id delivery commands
                    if comm != "local":
                        assert "NoNewPrivs:\t1" in f.read(), comm
                with open("/proc/%d/limits" % pid) as f:
                    core = [l for l in f if l.startswith("Max core")]
                assert core[0].split()[4:6] == ["0", "0"], (comm, core)
                assert os.readlink("/proc/%d/cwd" % pid) == p.queue, comm
            except FileNotFoundError:
                continue	# restarted under us
    finally:
        stop_foreground(p, proc, master_fd)


def test_foreground_log_stderr_relays_worker_lines_not_the_tty(
        make_postern):
    import pty
    import threading
    p = make_postern(start=False)
    with open(p.conf) as f:
        conf = f.read().replace("log = %s\n" % p.logfile, "log = stderr\n")
    with open(p.conf, "w") as f:
        f.write(conf)
    master_fd, slave_fd = pty.openpty()
    out = []

    def drain():
        while True:
            try:
                b = os.read(master_fd, 4096)
            except OSError:
                return
            if not b:
                return
            out.append(b)
    t = threading.Thread(target=drain, daemon=True)
    t.start()
    proc = subprocess.Popen([POSTERN, "-c", p.conf, "start", "--foreground"],
                            env=p.env, stdin=slave_fd, stdout=slave_fd,
                            stderr=slave_fd)
    os.close(slave_fd)
    try:
        wait_for(lambda: p.port_open(p.port), what="smtp port")
        wait_for(lambda: len(p.children()) >= 6, what="workers")
        for pid, comm, _ in p.children():
            try:
                link = os.readlink("/proc/%d/fd/2" % pid)
            except FileNotFoundError:
                continue
            assert link.startswith("pipe:"), (comm, link)
        smtplib.SMTP("127.0.0.1", p.port, timeout=20).quit()
        wait_for(lambda: b"postern/smtpd[" in b"".join(out),
                 what="a worker's log line on the terminal")
    finally:
        stop_foreground(p, proc, master_fd)


# ---------------------------------------------- 5: exec, start-up health

def test_programs_under_a_0700_directory_work(make_postern, users):
    top, d = libexec_copy()
    try:
        p = make_postern(start=False)
        p.env["POSTERN_LIBEXEC"] = d
        p.start()
        send(p, "%s@localhost" % users["alice"], "from-0700")
        p.wait_mbox(users["alice"], "from-0700")
        assert "exit status 72" not in p.log()
    finally:
        shutil.rmtree(top)


def test_start_fails_with_the_cause_when_a_program_is_missing(make_postern):
    top, d = libexec_copy([x for x in PROGRAMS if x != "remote"])
    try:
        p = make_postern(start=False)
        p.env["POSTERN_LIBEXEC"] = d
        r = p.cli("start", check=False)
        assert r.returncode != 0
        assert os.path.join(d, "remote") in r.stderr
        assert "No such file" in r.stderr
        assert p.master_pid() == 0 and p.our_pids() == []
    finally:
        shutil.rmtree(top)


def test_start_fails_when_a_service_dies_during_startup(make_postern):
    top, d = libexec_copy(replace={"remote": shutil.which("false")})
    try:
        p = make_postern(start=False)
        p.env["POSTERN_LIBEXEC"] = d
        r = p.cli("start", check=False)
        assert r.returncode != 0
        assert "remote" in r.stderr and "exit status 1" in r.stderr
        wait_for(lambda: p.our_pids() == [], what="everything stopped")
    finally:
        shutil.rmtree(top)


def test_start_prints_the_cause_a_worker_logged(make_postern, tmp_path):
    junk = tmp_path / "junk"
    junk.write_text("not a program\n")
    junk.chmod(0o755)
    top, d = libexec_copy(replace={"qmgr": str(junk)})
    try:
        p = make_postern(start=False)
        p.env["POSTERN_LIBEXEC"] = d
        r = p.cli("start", check=False)
        assert r.returncode != 0
        assert "service qmgr died during start-up: exit status 72" in r.stderr
        assert "[qmgr] cannot start" in r.stderr
        assert "Exec format error" in r.stderr
        assert "Exec format error" in p.log()
        wait_for(lambda: p.our_pids() == [], what="everything stopped")
    finally:
        shutil.rmtree(top)
