"""Service integration: the systemd unit and the Type=notify protocol
that `postern start --foreground` speaks to systemd ($NOTIFY_SOCKET)."""
import os
import shutil
import signal
import smtplib
import socket
import subprocess
import tempfile

import pytest

from conftest import BUILD, POSTERN, wait_for

SRC = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def unit_text(sbindir):
    with open(os.path.join(SRC, "master", "postern.service.in")) as f:
        return (f.read().replace("@SBINDIR@", sbindir)
                .replace("@SYSCONFDIR@", "/etc/postern"))


@pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                    reason="systemd-analyze not installed")
def test_unit_file_verifies(tmp_path):
    unit = tmp_path / "postern.service"
    unit.write_text(unit_text(BUILD))
    r = subprocess.run(["systemd-analyze", "verify", "--man=no", str(unit)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stderr.strip() == "", r.stderr
    # The check is real: a bad line is reported.
    unit.write_text(unit_text(BUILD).replace("Type=notify", "Type=notifyy"))
    r = subprocess.run(["systemd-analyze", "verify", "--man=no", str(unit)],
                       capture_output=True, text=True, timeout=60)
    assert "notifyy" in r.stderr


def test_make_install_places_unit_and_config(tmp_path):
    dest = tmp_path / "root"
    r = subprocess.run(["make", "-s", "-C", SRC, "install",
                        "DESTDIR=%s" % dest, "PREFIX=/usr",
                        "BUILD=%s" % BUILD],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    unit = (dest / "usr/lib/systemd/system/postern.service").read_text()
    assert "ExecStart=/usr/sbin/postern -c /etc/postern/postern.conf " \
        "start --foreground" in unit
    assert "@" not in unit.replace("@SBINDIR", "")  # all filled in
    conf = dest / "etc/postern/postern.conf"
    assert conf.exists()
    # An admin's config is never overwritten by a new install.
    conf.write_text("# mine\n")
    r = subprocess.run(["make", "-s", "-C", SRC, "install",
                        "DESTDIR=%s" % dest, "PREFIX=/usr",
                        "BUILD=%s" % BUILD],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert conf.read_text() == "# mine\n"


def _recv_state(sock, want, timeout=30):
    """Datagrams until one holds `want`; returns its fields."""
    sock.settimeout(timeout)
    seen = []
    while True:
        try:
            data = sock.recv(4096).decode()
        except socket.timeout:
            raise AssertionError("no %s from postern (got %r)"
                                 % (want, seen))
        seen.append(data)
        fields = dict(l.split("=", 1) for l in data.splitlines() if "=" in l)
        if want in data.splitlines():
            return fields


@pytest.mark.parametrize("abstract", [False, True])
def test_notify_ready_reload_stopping(make_postern, abstract):
    p = make_postern(start=False)
    d = tempfile.mkdtemp(prefix="pst-notify-")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    if abstract:
        name = "@postern-test-%d" % os.getpid()
        sock.bind("\0" + name[1:])
    else:
        name = os.path.join(d, "notify")
        sock.bind(name)
    env = dict(p.env, NOTIFY_SOCKET=name)
    proc = subprocess.Popen([POSTERN, "-c", p.conf, "start", "--foreground"],
                            env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        f = _recv_state(sock, "READY=1")
        assert int(f["MAINPID"]) == proc.pid
        # Ready means ready: the listener answers at once.
        s = smtplib.SMTP("127.0.0.1", p.port, timeout=10)
        assert s.noop()[0] == 250
        s.quit()
        # No worker inherits the variable.
        for pid, comm, uid in p.children():
            with open("/proc/%d/environ" % pid, "rb") as fh:
                assert b"NOTIFY_SOCKET" not in fh.read()
        os.kill(proc.pid, signal.SIGHUP)
        _recv_state(sock, "RELOADING=1")
        f = _recv_state(sock, "READY=1")
        assert int(f["MAINPID"]) == proc.pid
        os.kill(proc.pid, signal.SIGTERM)
        _recv_state(sock, "STOPPING=1")
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        sock.close()
        shutil.rmtree(d, ignore_errors=True)
    assert p.master_pid() == 0


def test_notify_socket_absent_or_dead_is_harmless(make_postern):
    """Without a listener on the socket, start still succeeds."""
    p = make_postern(start=False)
    env = dict(p.env, NOTIFY_SOCKET="/nonexistent/notify")
    proc = subprocess.Popen([POSTERN, "-c", p.conf, "start", "--foreground"],
                            env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: p.port_open(p.port), what="smtp port")
        os.kill(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
