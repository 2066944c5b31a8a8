"""anvil (issue 6, brute-force defence): failed AUTHs are counted per
client IP across every smtpd process. Wrong passwords split between the
587 (STARTTLS) and the 465 (implicit TLS) listeners add up to the block;
anvil killed with kill -9 is restarted by master and smtpd keeps working;
anvil hung (SIGSTOP) never holds a client up for long; `postern status`
lists it. Reuses test_submission's Sub (sasldb user, TLS listeners)."""

import base64
import json
import os
import signal
import smtplib
import time

import pytest

from conftest import IS_ROOT, wait_for
from test_submission import (PASSWORD, assert_no_password, ctx, raw,  # noqa
                             sub_factory, swaks)

pytestmark = pytest.mark.skipif(not IS_ROOT, reason="needs root: writes "
                                "/etc/sasl2/APP.conf and runs workers as "
                                "nobody")

WRONG = base64.b64encode(b"\0alice\0wrong-" + PASSWORD.encode()).decode()
RIGHT = base64.b64encode(b"\0alice\0" + PASSWORD.encode()).decode()


def starttls_session(port):
    c = smtplib.SMTP("127.0.0.1", port, timeout=20)
    c.ehlo("client.example")
    c.starttls(context=ctx())
    c.ehlo("client.example")
    return c


def anvil_pid(p):
    kids = p.children("anvil")
    return kids[0][0] if len(kids) == 1 else 0


# 127.0.0.1 is the host's own address: exempt from the lockout unless
# the admin says otherwise, as these tests do
LOCAL = "auth_lockout_exempt_local = no\n"


def test_failures_add_up_across_listeners(sub_factory):
    s = sub_factory(extra=LOCAL).start()
    p = s.p
    # a session opened before the block: refused at its next AUTH
    early = starttls_session(p.sub_port)
    # 3 wrong passwords on 587 ...
    c = starttls_session(p.sub_port)
    for _ in range(3):
        code, msg = c.docmd("AUTH", "PLAIN " + WRONG)
        assert code == 535 and b"5.7.8" in msg, (code, msg)
    c.quit()
    # ... and 2 on 465: the 5th in all gets 421 at once
    sock, rd, cmd = raw(s.tls_port, tls=True)
    cmd("EHLO client.example")
    assert cmd("AUTH PLAIN " + WRONG)[0].startswith("535 5.7.8")
    assert cmd("AUTH PLAIN " + WRONG)[0].startswith("535 5.7.8")
    assert rd()[0].startswith("421 4.7.0")
    sock.close()
    # the other listener (587, only 3 failures of its own) refuses too:
    # the session that was already open, at AUTH, even with the password
    code, msg = early.docmd("AUTH", "PLAIN " + RIGHT)
    assert code == 421 and b"4.7.0" in msg, (code, msg)
    early.close()
    # a new client on 587 with the right password (swaks): refused at
    # AUTH (the lockout refuses AUTH only, never the connection)
    r = swaks("--port", str(p.sub_port), "--tls", "--auth", "PLAIN",
              "--auth-user", "alice", "--auth-password", PASSWORD,
              "--from", "alice@test.example", "--to", "bob@far.example")
    assert r.returncode != 0
    assert "421 4.7.0" in r.stdout, r.stdout
    assert "235 " not in r.stdout
    # and on 465 (smtplib): the banner, then AUTH refused
    c = smtplib.SMTP_SSL("127.0.0.1", s.tls_port, timeout=20, context=ctx())
    c.ehlo("client.example")
    code, msg = c.docmd("AUTH", "PLAIN " + RIGHT)
    assert code == 421 and b"4.7.0" in msg, (code, msg)
    c.close()
    wait_for(lambda: "reject: AUTH from unknown[127.0.0.1]: 421 4.7.0 "
             "Too many failed" in p.log(), what="465 refusal logged")
    log = p.log()
    assert "postern/anvil[" in log
    assert "blocking 127.0.0.1 for 600s: 5 failed AUTHs" in log
    assert "last on listener submissions" in log
    assert "on all listeners within 600s" in log
    assert_no_password(p)
    assert "wrong-" not in log


def test_anvil_killed_is_restarted_and_smtpd_keeps_working(sub_factory,
                                                           users):
    s = sub_factory(extra=LOCAL).start()
    p = s.p
    old = wait_for(lambda: anvil_pid(p), what="anvil running")
    # every smtpd has its connection to anvil
    c = starttls_session(p.sub_port)
    c.login("alice", PASSWORD)
    c.quit()
    c = smtplib.SMTP("127.0.0.1", p.port, timeout=20)
    c.quit()
    os.kill(old, signal.SIGKILL)
    new = wait_for(lambda: (lambda n: n and n != old and n)(anvil_pid(p)),
                   what="anvil restarted")
    assert new != old
    wait_for(lambda: "service anvil (pid %d) died" % old in p.log(),
             what="death logged")
    # mail still accepted on 25 and through AUTH on 587
    c = smtplib.SMTP("127.0.0.1", p.port, timeout=20)
    c.sendmail("a@c.test", ["%s@localhost" % users["alice"]],
               "Subject: anvil gone\r\n\r\nafter anvil kill\r\n")
    c.quit()
    p.wait_mbox(users["alice"], b"after anvil kill")
    c = starttls_session(p.sub_port)
    c.login("alice", PASSWORD)
    c.sendmail("alice@test.example", ["%s@localhost" % users["bob"]],
               "Subject: submitted\r\n\r\nsubmitted after the kill\r\n")
    c.quit()
    p.wait_mbox(users["bob"], b"submitted after the kill")
    # smtpd is back on the new anvil: failures count across listeners
    wait_for(lambda: p.log().count("anvil: connected again") >= 1,
             what="smtpd reconnected")
    c = starttls_session(p.sub_port)
    for _ in range(4):
        assert c.docmd("AUTH", "PLAIN " + WRONG)[0] == 535
    c.quit()
    sock, rd, cmd = raw(s.tls_port, tls=True)
    cmd("EHLO client.example")
    assert cmd("AUTH PLAIN " + WRONG)[0].startswith("535")
    assert rd()[0].startswith("421 4.7.0")
    sock.close()
    assert_no_password(p)


def test_hung_anvil_never_holds_clients(sub_factory, users):
    s = sub_factory(extra=LOCAL).start()
    p = s.p
    pid = wait_for(lambda: anvil_pid(p), what="anvil running")
    c = smtplib.SMTP("127.0.0.1", p.port, timeout=20)   # connects smtpd
    c.quit()
    os.kill(pid, signal.SIGSTOP)
    try:
        t0 = time.time()
        c = smtplib.SMTP("127.0.0.1", p.port, timeout=20)
        waited = time.time() - t0
        c.sendmail("a@c.test", ["%s@localhost" % users["carol"]],
                   "Subject: hung\r\n\r\nanvil was hung\r\n")
        c.quit()
        assert waited < 3, waited
        # the local (per-process) counters stand in: 5 on one listener
        c = starttls_session(p.sub_port)
        for _ in range(5):
            code, _ = c.docmd("AUTH", "PLAIN " + WRONG)
        assert code == 535
        assert c.getreply()[0] == 421
        c.close()
    finally:
        os.kill(pid, signal.SIGCONT)
    p.wait_mbox(users["carol"], b"anvil was hung")
    assert "anvil: no reply within 1 s" in p.log()


def test_status_lists_anvil(sub_factory):
    s = sub_factory().start()
    p = s.p
    wait_for(lambda: anvil_pid(p), what="anvil running")
    js = json.loads(p.cli("status", "--json").stdout)
    assert js["services"]["anvil"] == 1
    assert "anvil" in p.cli("status").stdout
    # a reload keeps anvil (and its counters): same process
    pid = anvil_pid(p)
    os.kill(p.master_pid(), signal.SIGHUP)
    wait_for(lambda: "reload:" in p.log(), what="reload")
    time.sleep(1)
    assert anvil_pid(p) == pid
    # the socket is private: user only
    st = os.stat(os.path.join(p.queue, "private", "anvil"))
    assert st.st_mode & 0o777 == 0o600
