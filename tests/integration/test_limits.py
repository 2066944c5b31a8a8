"""Resource limits of smtpd (issue 11, items 6 and 10): a client that
pipelines and never reads cannot grow smtpd; junk commands, the DATA
phase and the whole session are bounded; the per-client session limit is
client_session_limit (the host's own addresses and Connect: OK/RELAY
exempt); the AUTH lockout refuses AUTH only, never mail that needs none,
and not the host's own addresses unless the admin says so."""

import base64
import os
import smtplib
import socket
import ssl
import time

import pytest

from conftest import IS_ROOT, wait_for
from test_policy import cmd, connect, reply
from test_submission import PASSWORD, ctx, sub_factory  # noqa: F401

WRONG = base64.b64encode(b"\0alice\0wrong-" + PASSWORD.encode()).decode()
RIGHT = base64.b64encode(b"\0alice\0" + PASSWORD.encode()).decode()


def with_access(make_postern, access, extra=""):
    """A started instance whose access map is exactly `access`."""
    p = make_postern(extra=extra, start=False)
    path = os.path.join(p.base, "etc", "access")
    with open(path, "w") as f:
        f.write(access)
    p.cli("map", path)
    p.start()
    return p


def smtpd_pid(p, listener="smtp"):
    for pid, comm, _ in p.children("smtpd"):
        try:
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                args = f.read().split(b"\0")
        except OSError:
            continue
        if listener.encode() in args:
            return pid
    return 0


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def closed(s, f, timeout):
    """Read until the peer closes (True) or timeout passes (False)."""
    s.settimeout(timeout)
    try:
        while f.readline():
            pass
        return True
    except (socket.timeout, OSError):
        return False


def pipeline(s, f, data):
    """Send data at once; the replies' "NNN X.X.X" until the close."""
    s.sendall(data)
    codes = []
    s.settimeout(20)
    while True:
        try:
            line = f.readline()
        except ConnectionResetError:
            break
        if not line:
            return codes
        codes.append(line[:9])
    return codes


# ---------------------------------------------------- item 6: smtpd limits

@pytest.mark.parametrize("tls", [False, True])
def test_client_that_never_reads_cannot_grow_smtpd(make_postern, users, tls):
    p = make_postern(tls=tls)
    pid = wait_for(lambda: smtpd_pid(p), what="smtpd of [smtp]")
    s, f, code, _ = connect(p, "127.0.0.1")
    assert code == 220
    if tls:
        assert cmd(s, f, "STARTTLS")[0] == 220
        s = ctx().wrap_socket(s)
    before = rss_kb(pid)
    # EHLO is no error and no junk command, and each answer is ~12 times
    # the command: 1M of them would be ~100 MB of replies.
    chunk = b"EHLO client.example\r\n" * 2000
    s.setblocking(False)
    sent, deadline = 0, time.time() + 8
    while time.time() < deadline and sent < 40 * 1024 * 1024:
        try:
            sent += s.send(chunk)
        except (BlockingIOError, ssl.SSLWantWriteError,
                ssl.SSLWantReadError):
            time.sleep(0.05)
    time.sleep(1)
    grown = rss_kb(pid) - before
    assert grown < 8 * 1024, "smtpd grew by %d kB (%d octets sent)" % (
        grown, sent)
    # the same smtpd still serves another client at once
    c = smtplib.SMTP("127.0.0.1", p.port, timeout=10)
    c.sendmail("a@c.test", ["%s@localhost" % users["alice"]],
               "Subject: served\r\n\r\nwhile one never reads\r\n")
    c.quit()
    p.wait_mbox(users["alice"], b"while one never reads")
    s.close()


def test_junk_commands_are_limited(make_postern):
    p = make_postern(extra="junk_command_limit = 100\nmax_errors = 20\n")
    s, f, code, _ = connect(p, "127.0.0.1")
    assert code == 220
    codes = pipeline(s, f, b"NOOP\r\n" * 125)
    # 100 junk commands free, then each counts as an error: 20 more
    assert codes.count(b"250 2.0.0") == 120, len(codes)
    assert codes[-1] == b"421 4.7.0", codes[-3:]
    assert "too many errors after NOOP" in p.log()


def test_unknown_commands_hit_the_error_limit(make_postern):
    p = make_postern(extra="max_errors = 100\n")
    s, f, code, _ = connect(p, "127.0.0.1")
    codes = [c[:3] for c in pipeline(s, f, b"XYZZY\r\n" * 101)]
    assert codes.count(b"500") == 100 and codes[-1] == b"421", codes[-3:]


def test_data_phase_has_a_deadline(make_postern, users):
    p = make_postern(extra="data_timeout = 3s\n")
    s, f, code, _ = connect(p, "127.0.0.1")
    assert cmd(s, f, "EHLO client.example")[0] == 250
    assert cmd(s, f, "MAIL FROM:<a@c.test>")[0] == 250
    assert cmd(s, f, "RCPT TO:<%s@localhost>" % users["alice"])[0] == 250
    assert cmd(s, f, "DATA")[0] == 354
    # one octet a second: each read is in time, the whole is not
    t0 = time.time()
    got = b""
    s.settimeout(0.01)
    while time.time() - t0 < 12:
        try:
            s.send(b"x")
        except OSError:
            break
        try:
            got += s.recv(200)
            if got.endswith(b"\n") or not got:
                break
        except socket.timeout:
            pass
        time.sleep(1)
    assert got.startswith(b"421 4.4.2"), got
    assert time.time() - t0 < 8
    assert "DATA deadline" in p.log()
    assert p.mbox(users["alice"]) == b""


def test_session_has_a_deadline(make_postern):
    p = make_postern(extra="session_timeout = 3s\n")
    s, f, code, _ = connect(p, "127.0.0.1")
    t0 = time.time()
    codes = []
    s.settimeout(2)
    while time.time() - t0 < 12:
        try:
            s.sendall(b"NOOP\r\n")
            line = f.readline()
        except OSError:
            break
        if not line:
            break
        codes.append(line[:9])
        if line.startswith(b"421"):
            break
        time.sleep(0.5)
    assert codes and codes[-1] == b"421 4.4.2", codes
    assert time.time() - t0 < 6
    assert "session deadline" in p.log()


# ------------------------------------------- item 10: per-client limits

def test_max_sessions_5_allows_5_from_localhost(make_postern):
    # no Connect: RELAY for 127.0.0.1: it is exempt as the host's own
    p = with_access(make_postern, "Connect:127.0.0.9 REJECT\n",
                    extra="max_sessions = 5\n")
    held = [connect(p, "127.0.0.1") for _ in range(5)]
    assert [h[2] for h in held] == [220] * 5, [h[3] for h in held]
    s, f, code, text = connect(p, "127.0.0.1")     # max_sessions itself
    assert code == 421 and "4.3.2" in text, text
    for h in held:
        h[0].close()


def test_client_session_limit(make_postern):
    p = with_access(make_postern, "Connect:127.0.0.4 OK\n",
                    extra="client_session_limit = 2\n")
    held = [connect(p, "127.0.0.3") for _ in range(2)]
    assert [h[2] for h in held] == [220, 220]
    s, f, code, text = connect(p, "127.0.0.3")
    assert code == 421 and "4.7.0" in text, text
    s.close()
    # exempt: the host's own address, and Connect: OK
    for src in ("127.0.0.1", "127.0.0.4"):
        more = [connect(p, src) for _ in range(4)]
        assert [h[2] for h in more] == [220] * 4, (src, more)
        for h in more:
            h[1].close()
            h[0].close()
    # one closed: room for one more
    held[0][1].close()
    held[0][0].close()
    wait_for(lambda: "disconnect from unknown[127.0.0.3]" in p.log(),
             what="disconnect")
    s, f, code, text = connect(p, "127.0.0.3")
    assert code == 220, text
    assert "client_session_limit=2" in p.log()


def auth_sub(sub_factory, extra=""):
    # port 25 offers AUTH too (optional), as a default relay with SASL
    s = sub_factory(extra="auth = optional\n" + extra)
    return s.start()


def starttls_from(src, port):
    c = smtplib.SMTP("127.0.0.1", port, timeout=20,
                     source_address=(src, 0))
    c.ehlo("client.example")
    c.starttls(context=ctx())
    c.ehlo("client.example")
    return c


def auth_as(c, n_wrong, then=None):
    """n_wrong failed AUTHs (535 each), then maybe one with the right
    password: its reply code."""
    for _ in range(n_wrong):
        assert c.docmd("AUTH", "PLAIN " + WRONG)[0] == 535
    code = c.docmd("AUTH", "PLAIN " + RIGHT)[0] if then else None
    c.close()
    return code


@pytest.mark.skipif(not IS_ROOT, reason="SASL setup needs root")
def test_auth_lockout_refuses_auth_only(sub_factory, users):
    s = auth_sub(sub_factory)
    p = s.p
    auth_as(starttls_from("127.0.0.3", p.sub_port), 5)
    # AUTH is refused from that client, even with the password ...
    c = starttls_from("127.0.0.3", p.sub_port)
    code, msg = c.docmd("AUTH", "PLAIN " + RIGHT)
    assert code == 421 and b"4.7.0" in msg, (code, msg)
    c.close()
    # ... but mail that needs no AUTH still flows on port 25
    c = smtplib.SMTP("127.0.0.1", p.port, timeout=20,
                     source_address=("127.0.0.3", 0))
    c.sendmail("a@c.test", ["%s@localhost" % users["alice"]],
               "Subject: no auth\r\n\r\nlocked out of AUTH only\r\n")
    c.quit()
    p.wait_mbox(users["alice"], b"locked out of AUTH only")
    # and the host's own address is not locked out by default
    assert auth_as(starttls_from("127.0.0.1", p.sub_port), 5, 1) == 235
    assert "blocking 127.0.0.3 for 600s: 5 failed AUTHs" in p.log()


@pytest.mark.skipif(not IS_ROOT, reason="SASL setup needs root")
def test_auth_lockout_of_local_addresses_when_asked(sub_factory):
    s = auth_sub(sub_factory, "auth_lockout_exempt_local = no\n"
                 "auth_failure_limit = 2\nauth_lockout_time = 3s\n")
    p = s.p
    auth_as(starttls_from("127.0.0.1", p.sub_port), 2)
    assert auth_as(starttls_from("127.0.0.1", p.sub_port), 0, 1) == 421
    time.sleep(3.5)         # auth_lockout_time is over
    assert auth_as(starttls_from("127.0.0.1", p.sub_port), 0, 1) == 235


@pytest.mark.skipif(not IS_ROOT, reason="SASL setup needs root")
def test_auth_lockout_counts_ipv6_by_64(sub_factory, users):
    s = sub_factory(extra="auth = optional\nauth_lockout_exempt_local = no\n"
                    "auth_failure_limit = 2\n")
    p = s.p
    with open(p.conf) as f:
        text = f.read()
    with open(p.conf, "w") as f:
        f.write(text.replace("listen = 127.0.0.1:%d\n" % p.port,
                             "listen = 127.0.0.1:%d, [::1]:%d\n"
                             % (p.port, p.port)))
    s.start()

    def v6():
        c = smtplib.SMTP("::1", p.port, timeout=20)
        c.ehlo("client.example")
        c.starttls(context=ctx())
        c.ehlo("client.example")
        return c
    auth_as(v6(), 2)
    # anvil counted ::1 as its /64
    wait_for(lambda: "blocking ::/64 for 600s: 2 failed AUTHs" in p.log(),
             what="the /64 blocked")
    assert auth_as(v6(), 0, 1) == 421
    # mail without AUTH from the locked-out client still flows
    c = smtplib.SMTP("::1", p.port, timeout=20)
    c.sendmail("a@c.test", ["%s@localhost" % users["bob"]],
               "Subject: v6\r\n\r\nfrom the locked-out /64\r\n")
    c.quit()
    p.wait_mbox(users["bob"], b"from the locked-out /64")
