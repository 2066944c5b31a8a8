"""Submission (issue 6): STARTTLS and implicit TLS listeners, SMTP AUTH
through Cyrus SASL (sasldb via saslpasswd2, and saslauthd), the MSA on
587, brute-force refusal, and that no password ever reaches the log.
Real clients: swaks and Python smtplib. Each test has its own SASL app
name (/etc/sasl2/APP.conf, removed afterwards) and its own sasldb."""

import base64
import hashlib
import hmac
import os
import pwd
import shutil
import smtplib
import socket
import ssl
import subprocess
import time
import uuid

import pytest

from conftest import IS_ROOT, free_port, wait_for

PASSWORD = "S3cret-pw-%s" % uuid.uuid4().hex[:8]
SASL_DIR = "/etc/sasl2"

pytestmark = pytest.mark.skipif(not IS_ROOT, reason="needs root: writes "
                                "/etc/sasl2/APP.conf and runs workers as "
                                "nobody")


def ctx():
    c = ssl.create_default_context()
    c.check_hostname = False
    c.verify_mode = ssl.CERT_NONE
    return c


class Sub:
    """A postern with [submission] (STARTTLS, auth required) and
    [submissions] (implicit TLS) listeners and a sasldb user."""

    def __init__(self, make_postern, users, method="auxprop", extra="",
                 sub_extra="", mechs="PLAIN LOGIN CRAM-MD5 DIGEST-MD5",
                 sasl_conf_dir=False):
        self.app = "pst%s" % uuid.uuid4().hex[:10]
        self.p = make_postern(start=False, tls=True,
                              extra="sasl_app = %s\n%s" % (self.app, extra))
        p = self.p
        self.user = "alice"
        self.sasldb = os.path.join(p.base, "etc", "sasldb2")
        if sasl_conf_dir:
            self.conf_dir = os.path.join(p.base, "sasl2")
            os.makedirs(self.conf_dir)
            self._add_global("sasl_config_dir = %s\n" % self.conf_dir)
        else:
            self.conf_dir = SASL_DIR
            os.makedirs(SASL_DIR, exist_ok=True)
        self.app_conf = os.path.join(self.conf_dir, self.app + ".conf")
        lines = ["pwcheck_method: %s" % method, "mech_list: %s" % mechs]
        if method == "auxprop":
            lines += ["auxprop_plugin: sasldb",
                      "sasldb_path: %s" % self.sasldb]
        self.extra_app_lines = lines
        with open(self.app_conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        if method == "auxprop":
            subprocess.run(["saslpasswd2", "-c", "-p", "-f", self.sasldb,
                            "-a", self.app, "-u", "mx.test.example",
                            self.user], input=PASSWORD + "\n", text=True,
                           check=True, capture_output=True)
            nobody = pwd.getpwnam("nobody")
            os.chown(self.sasldb, nobody.pw_uid, nobody.pw_gid)
            os.chmod(self.sasldb, 0o600)
        # the key stays root-only: master hands it to smtpd
        os.chmod(p.key, 0o600)
        self.tls_port = free_port()
        with open(p.conf, "a") as f:     # the last section: [submission]
            f.write("tls = required\nauth = required\n%s\n"
                    "[submissions]\nlisten = 127.0.0.1:%d\ntls = wrapper\n"
                    "auth = required\n" % (sub_extra, self.tls_port))

    def _add_global(self, line):
        with open(self.p.conf) as f:
            text = f.read()
        with open(self.p.conf, "w") as f:
            f.write(line + text)

    def start(self):
        self.p.start()
        wait_for(lambda: self.p.port_open(self.p.sub_port), what="587")
        wait_for(lambda: self.p.port_open(self.tls_port), what="465")
        return self

    def cleanup(self):
        if self.conf_dir == SASL_DIR:
            try:
                os.unlink(self.app_conf)
            except FileNotFoundError:
                pass


@pytest.fixture
def sub_factory(make_postern, users):
    made = []

    def make(**kw):
        s = Sub(make_postern, users, **kw)
        made.append(s)
        return s
    yield make
    for s in made:
        s.cleanup()


def swaks(*args, timeout=60):
    return subprocess.run(["swaks", "--server", "127.0.0.1",
                           "--helo", "client.example",
                           "--timeout", "20"] + list(args),
                          capture_output=True, text=True, timeout=timeout)


def assert_no_password(p):
    log = p.log()
    assert PASSWORD not in log
    for enc in (base64.b64encode(PASSWORD.encode()).decode(),
                base64.b64encode(("\0alice\0" + PASSWORD).encode()).decode()):
        assert enc not in log


# ---- real clients, every mechanism -----------------------------------

# swaks' DIGEST-MD5 needs Authen::SASL (not installed): DIGEST-MD5 is
# tested with the client below instead.
@pytest.mark.parametrize("mech", ["PLAIN", "LOGIN", "CRAM-MD5"])
def test_swaks_starttls_auth_587(sub_factory, peer_factory, users, mech):
    s = sub_factory().start()
    p = s.p
    peer = peer_factory(p.smarthost_port)
    r = swaks("--port", str(p.sub_port), "--tls", "--auth", mech,
              "--auth-user", "alice", "--auth-password", PASSWORD,
              "--from", "alice@test.example", "--to", "bob@far.example",
              "--header", "Subject: via %s" % mech,
              "--body", "submitted with %s" % mech)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "235 2.7.0" in r.stdout
    wait_for(lambda: peer.messages, what="relayed message")
    frm, rcpts, data = peer.messages[0]
    assert rcpts == ["bob@far.example"]
    assert b"submitted with " + mech.encode() in data
    assert b"with ESMTPSA" in data
    assert b"(using TLSv1." in data
    assert b"Authenticated sender" not in data   # auth_show_user = no
    log = p.log()
    assert "sasl_method=%s, sasl_username=alice" % mech in log
    assert_no_password(p)


def test_swaks_implicit_tls_465(sub_factory, peer_factory):
    s = sub_factory(extra="auth_show_user = yes\n").start()
    p = s.p
    peer = peer_factory(p.smarthost_port)
    r = swaks("--port", str(s.tls_port), "--tlsc", "--auth", "PLAIN",
              "--auth-user", "alice", "--auth-password", PASSWORD,
              "--from", "alice@test.example", "--to", "bob@far.example")
    assert r.returncode == 0, r.stdout + r.stderr
    wait_for(lambda: peer.messages, what="relayed message")
    data = peer.messages[0][2]
    assert b"(Authenticated sender: alice)" in data
    assert b"TLSv1.3" in data or b"TLSv1.2" in data
    assert_no_password(p)


def test_smtplib_starttls_login_and_msa_fixing(sub_factory, peer_factory):
    s = sub_factory().start()
    p = s.p
    peer = peer_factory(p.smarthost_port)
    c = smtplib.SMTP("127.0.0.1", p.sub_port, timeout=20)
    c.ehlo("phone.example")
    assert not c.has_extn("auth")          # not before TLS (tls=required)
    code, msg = c.mail("alice@test.example")
    assert code == 530
    c.starttls(context=ctx())
    c.ehlo("phone.example")
    assert "PLAIN" in c.esmtp_features["auth"]
    c.login("alice", PASSWORD)
    # unqualified sender; no Date, Message-ID, From: the MSA fixes them
    c.sendmail("alice", ["bob@far.example"],
               b"Subject: bare\r\n\r\nno headers\r\n")
    c.quit()
    wait_for(lambda: peer.messages, what="relayed message")
    frm, rcpts, data = peer.messages[0]
    assert frm == "alice@mx.test.example"
    assert b"\nDate: " in data
    assert b"\nMessage-ID: <" in data
    assert b"\nFrom: <alice@mx.test.example>" in data
    assert_no_password(p)


# ---- policy ------------------------------------------------------------

def test_587_requires_auth_and_relay_only_after_auth(sub_factory,
                                                     peer_factory):
    s = sub_factory().start()
    p = s.p
    c = smtplib.SMTP("127.0.0.1", p.sub_port, timeout=20)
    c.starttls(context=ctx())
    c.ehlo("x.example")
    code, msg = c.mail("alice@test.example")
    assert code == 530 and b"5.7.0 Authentication required" in msg
    c.quit()
    # port 25 from a non-RELAY client: relay denied without AUTH
    with open(os.path.join(p.base, "etc", "access"), "w") as f:
        f.write("Connect:127.0.0.9 REJECT\n")
    p.cli("map", os.path.join(p.base, "etc", "access"))
    p.cli("reload")
    time.sleep(1.5)
    c = smtplib.SMTP("127.0.0.1", p.port, timeout=20)
    c.ehlo("x.example")
    c.mail("alice@test.example")
    code, msg = c.rcpt("bob@far.example")
    assert code == 550 and b"Relaying denied" in msg
    c.quit()
    # the same on 25 after STARTTLS + AUTH: allowed
    c = smtplib.SMTP("127.0.0.1", p.port, timeout=20)
    c.starttls(context=ctx())
    c.ehlo("x.example")
    c.login("alice", PASSWORD)
    c.mail("alice@test.example")
    code, msg = c.rcpt("bob@far.example")
    assert code == 250, msg
    c.quit()


def test_plain_hidden_before_tls_on_25(sub_factory):
    s = sub_factory(extra="auth = optional\n").start()
    p = s.p
    c = smtplib.SMTP("127.0.0.1", p.port, timeout=20)
    c.ehlo("x.example")
    mechs = c.esmtp_features.get("auth", "").split()
    assert "PLAIN" not in mechs and "LOGIN" not in mechs
    assert "CRAM-MD5" in mechs
    code, msg = c.docmd("AUTH", "PLAIN " + base64.b64encode(
        b"\0alice\0" + PASSWORD.encode()).decode())
    assert code == 538
    c.starttls(context=ctx())
    c.ehlo("x.example")
    mechs = c.esmtp_features.get("auth", "").split()
    assert "PLAIN" in mechs and "LOGIN" in mechs
    c.quit()
    assert_no_password(p)


def test_plaintext_allowed_when_turned_off(sub_factory):
    s = sub_factory(extra="auth = optional\n"
                    "auth_plaintext_requires_tls = no\n").start()
    c = smtplib.SMTP("127.0.0.1", s.p.port, timeout=20)
    c.ehlo("x.example")
    assert "PLAIN" in c.esmtp_features.get("auth", "").split()
    c.login("alice", PASSWORD)
    c.quit()


def test_auth_mechanisms_filter(sub_factory):
    s = sub_factory(sub_extra="auth_mechanisms = PLAIN").start()
    c = smtplib.SMTP("127.0.0.1", s.p.sub_port, timeout=20)
    c.starttls(context=ctx())
    c.ehlo("x.example")
    assert c.esmtp_features["auth"].split() == ["PLAIN"]
    code, _ = c.docmd("AUTH", "CRAM-MD5")
    assert code == 504
    c.quit()


def raw(port, tls=False):
    sock = socket.create_connection(("127.0.0.1", port), 10)
    if tls:
        sock = ctx().wrap_socket(sock)
    f = sock.makefile("rb")

    def rd():
        lines = []
        while True:
            ln = f.readline()
            assert ln, "connection closed"
            lines.append(ln.decode().rstrip("\r\n"))
            if ln[3:4] != b"-":
                return lines

    def cmd(line):
        sock.sendall(line.encode() + b"\r\n")
        return rd()
    rd()
    return sock, rd, cmd


def test_auth_dialogue_cancel_and_errors(sub_factory):
    s = sub_factory().start()
    sock, rd, cmd = raw(s.tls_port, tls=True)
    assert cmd("AUTH PLAIN")[0].startswith("503")        # before EHLO
    cmd("EHLO x.example")
    r = cmd("AUTH LOGIN")
    assert r[0].startswith("334 ")
    assert base64.b64decode(r[0][4:]).lower().startswith(b"user")
    assert cmd("*")[0].startswith("501")                  # cancelled
    assert cmd("AUTH PLAIN !!notbase64")[0].startswith("501")
    r = cmd("AUTH PLAIN")                                 # no initial resp.
    assert r[0] == "334 " or r[0] == "334"
    r = cmd(base64.b64encode(b"\0alice\0" + PASSWORD.encode()).decode())
    assert r[0].startswith("235 2.7.0")
    assert cmd("AUTH PLAIN =")[0].startswith("503")       # AUTH after AUTH
    assert cmd("QUIT")[0].startswith("221")
    sock.close()
    # CRAM-MD5 by hand over implicit TLS
    sock, rd, cmd = raw(s.tls_port, tls=True)
    cmd("EHLO x.example")
    r = cmd("AUTH CRAM-MD5")
    chal = base64.b64decode(r[0][4:])
    dig = hmac.new(PASSWORD.encode(), chal, hashlib.md5).hexdigest()
    r = cmd(base64.b64encode(b"alice " + dig.encode()).decode())
    assert r[0].startswith("235"), r
    sock.close()
    assert_no_password(s.p)


def test_auth_response_line_limits(sub_factory):
    """An AUTH response of AUTH_LINE_MAX + 1 octets ended by a bare LF is
    the longest line the reader holds (it once wrote past its buffer):
    refused as undecodable; one octet more aborts the exchange."""
    s = sub_factory().start()
    sock, rd, cmd = raw(s.tls_port, tls=True)
    cmd("EHLO x.example")
    assert cmd("AUTH PLAIN")[0].startswith("334")
    sock.sendall(b"A" * 12289 + b"\n")
    assert rd()[0] == "501 5.5.2 Cannot decode response"
    assert cmd("NOOP")[0].startswith("250")
    assert cmd("AUTH PLAIN")[0].startswith("334")
    sock.sendall(b"A" * 12289 + b"\r\n")
    assert rd()[0] == "501 5.7.0 Authentication aborted"
    assert cmd("NOOP")[0].startswith("250")
    assert cmd("QUIT")[0].startswith("221")
    sock.close()


def digest_md5_response(chal, user, realm, password, host):
    """RFC 2831 client response (qop=auth) to a server challenge."""
    fields = {}
    for part in chal.decode().split(","):
        k, _, v = part.partition("=")
        fields[k.strip()] = v.strip().strip('"')
    nonce = fields["nonce"]
    cnonce = base64.b64encode(os.urandom(12)).decode()
    uri = "smtp/" + host
    md5 = hashlib.md5
    a1 = md5(("%s:%s:%s" % (user, realm, password)).encode()).digest() + \
        (":%s:%s" % (nonce, cnonce)).encode()
    a2 = "AUTHENTICATE:" + uri
    resp = md5(("%s:%s:00000001:%s:auth:%s" % (
        md5(a1).hexdigest(), nonce, cnonce,
        md5(a2.encode()).hexdigest())).encode()).hexdigest()
    return ('charset=utf-8,username="%s",realm="%s",nonce="%s",nc=00000001,'
            'cnonce="%s",digest-uri="%s",response=%s,qop=auth' % (
                user, realm, nonce, cnonce, uri, resp)).encode()


def test_digest_md5_over_starttls(sub_factory, peer_factory):
    s = sub_factory().start()
    peer = peer_factory(s.p.smarthost_port)
    sock, rd, cmd = raw(s.p.sub_port)
    cmd("EHLO x.example")
    assert cmd("STARTTLS")[0].startswith("220")
    t = ctx().wrap_socket(sock)
    f = t.makefile("rb")

    def rd2():
        out = []
        while True:
            ln = f.readline().decode().rstrip("\r\n")
            out.append(ln)
            if ln[3:4] != "-":
                return out

    def cmd2(line):
        t.sendall(line.encode() + b"\r\n")
        return rd2()
    assert "DIGEST-MD5" in " ".join(cmd2("EHLO x.example"))
    r = cmd2("AUTH DIGEST-MD5")
    assert r[0].startswith("334 ")
    chal = base64.b64decode(r[0][4:])
    resp = digest_md5_response(chal, "alice", "mx.test.example", PASSWORD,
                               "mx.test.example")
    r = cmd2(base64.b64encode(resp).decode())
    assert r[0].startswith("334 ")          # rspauth
    assert b"rspauth=" in base64.b64decode(r[0][4:])
    r = cmd2("")
    assert r[0].startswith("235 2.7.0"), r
    assert cmd2("MAIL FROM:<alice@test.example>")[0].startswith("250")
    assert cmd2("RCPT TO:<bob@far.example>")[0].startswith("250")
    assert cmd2("DATA")[0].startswith("354")
    assert cmd2("Subject: digest\r\n\r\nvia DIGEST-MD5\r\n.")[0] \
        .startswith("250")
    cmd2("QUIT")
    t.close()
    wait_for(lambda: peer.messages, what="relayed message")
    assert b"via DIGEST-MD5" in peer.messages[0][2]
    assert "sasl_method=DIGEST-MD5, sasl_username=alice" in s.p.log()
    assert_no_password(s.p)


def test_wrong_password_n_times_gives_421(sub_factory):
    # 127.0.0.1 is the host's own address: exempt unless the admin says
    s = sub_factory(extra="auth_lockout_exempt_local = no\n").start()
    p = s.p
    sock, rd, cmd = raw(s.p.sub_port)
    cmd("EHLO x.example")
    assert cmd("STARTTLS")[0].startswith("220")
    t = ctx().wrap_socket(sock)
    f = t.makefile("rb")

    def rd():
        out = []
        while True:
            ln = f.readline().decode().rstrip("\r\n")
            out.append(ln)
            if ln[3:4] != "-":
                return out

    def cmd(line):
        t.sendall(line.encode() + b"\r\n")
        return rd()
    cmd("EHLO x.example")
    got = []
    for i in range(5):
        r = cmd("AUTH PLAIN " + base64.b64encode(
            b"\0alice\0wrong-" + PASSWORD.encode()).decode())
        got.append(r[0])
    assert all(g.startswith("535 5.7.8") for g in got), got
    assert rd()[0].startswith("421 4.7.0")
    t.close()
    # AUTH is refused for a while (the connection is not: mail that
    # needs no AUTH still flows where the listener allows it)
    c = smtplib.SMTP("127.0.0.1", s.p.sub_port, timeout=10)
    c.starttls(context=ctx())
    c.ehlo("x.example")
    code, msg = c.docmd("AUTH", "PLAIN " + base64.b64encode(
        b"\0alice\0" + PASSWORD.encode()).decode())
    assert code == 421 and msg.startswith(b"4.7.0"), (code, msg)
    c.close()
    log = p.log()
    assert "too many failed AUTHs from unknown[127.0.0.1]" in log
    assert "SASL PLAIN authentication failed" in log
    assert_no_password(p)
    assert "wrong-" not in log


def test_sender_login_map(sub_factory, peer_factory):
    s = sub_factory(extra="sender_login_map = %s\n" % "/tmp/none")
    p = s.p
    m = os.path.join(p.base, "etc", "sender_login")
    with open(m, "w") as f:
        f.write("alice@test.example alice\n@shared.example alice, bob\n")
    p.cli("map", m)
    with open(p.conf) as f:
        text = f.read().replace("/tmp/none", m)
    with open(p.conf, "w") as f:
        f.write(text)
    s.start()
    c = smtplib.SMTP("127.0.0.1", p.sub_port, timeout=20)
    c.starttls(context=ctx())
    c.ehlo("x.example")
    c.login("alice", PASSWORD)
    assert c.mail("alice@test.example")[0] == 250
    c.rset()
    assert c.mail("anyone@shared.example")[0] == 250
    c.rset()
    code, msg = c.mail("carol@test.example")
    assert code == 553 and b"5.7.1" in msg
    c.quit()


def test_starttls_injection_on_587(sub_factory):
    s = sub_factory().start()
    sock = socket.create_connection(("127.0.0.1", s.p.sub_port), 10)
    f = sock.makefile("rb")
    f.readline()
    sock.sendall(b"EHLO x\r\n")
    while f.readline()[3:4] == b"-":
        pass
    # the injected AUTH must not be run inside the TLS session
    sock.sendall(b"STARTTLS\r\nAUTH PLAIN " + base64.b64encode(
        b"\0alice\0" + PASSWORD.encode()) + b"\r\n")
    assert f.readline().startswith(b"220")
    t = ctx().wrap_socket(sock)
    t.sendall(b"EHLO x\r\n")
    tf = t.makefile("rb")
    lines = []
    while True:
        ln = tf.readline()
        lines.append(ln)
        if ln[3:4] != b"-":
            break
    assert lines[0].startswith(b"250")      # not a 235 from the injection
    t.sendall(b"MAIL FROM:<alice@test.example>\r\n")
    assert tf.readline().startswith(b"530")
    t.close()
    assert "discarding" in s.p.log()


# ---- start-up checks -------------------------------------------------------

def test_key_root_only_and_workers_not_root(sub_factory):
    s = sub_factory().start()
    st = os.stat(s.p.key)
    assert st.st_uid == 0 and st.st_mode & 0o077 == 0
    smtpds = wait_for(lambda: len(s.p.children("smtpd")) == 3 and
                      s.p.children("smtpd"), what="3 smtpd processes")
    assert all(uid != 0 for _, _, uid in smtpds)


def test_bad_key_refuses_to_start(sub_factory):
    s = sub_factory()
    p = s.p
    other = os.path.join(p.base, "etc", "other.pem")
    subprocess.run(["openssl", "genrsa", "-out", other, "2048"],
                   check=True, capture_output=True)
    with open(p.conf) as f:
        text = f.read()
    with open(p.conf, "w") as f:
        f.write(text.replace("tls_key = %s" % p.key, "tls_key = %s" % other))
    r = p.cli("check", check=False)
    assert r.returncode != 0
    assert "does not match" in r.stdout + r.stderr
    r = p.cli("start", check=False)
    assert r.returncode != 0
    os.unlink(other)
    r = p.cli("check", check=False)
    assert r.returncode != 0 and "cannot read" in r.stdout + r.stderr


# ---- other SASL set-ups ------------------------------------------------------

def test_private_sasl_config_dir(sub_factory):
    s = sub_factory(sasl_conf_dir=True).start()
    r = swaks("--port", str(s.tls_port), "--tlsc", "--auth", "CRAM-MD5",
              "--auth-user", "alice", "--auth-password", PASSWORD,
              "--from", "alice@test.example", "--to", "pstalice@localhost",
              "--quit-after", "RCPT")
    assert r.returncode == 0, r.stdout + r.stderr


def test_saslauthd_pam_user(sub_factory):
    if not shutil.which("saslauthd"):
        pytest.skip("saslauthd is not installed")
    user = "pstsasl"
    try:
        pwd.getpwnam(user)
        made = False
    except KeyError:
        subprocess.run(["useradd", "-M", "-N", "-d", "/nonexistent", "-s",
                        "/usr/sbin/nologin", user], check=True)
        made = True
    try:
        subprocess.run(["chpasswd"], input="%s:%s\n" % (user, PASSWORD),
                       text=True, check=True)
        s = sub_factory(method="saslauthd", mechs="PLAIN LOGIN")
        mux_dir = os.path.join(s.p.base, "saslauthd")
        os.makedirs(mux_dir)
        os.chmod(mux_dir, 0o755)
        with open(s.app_conf, "a") as f:
            f.write("saslauthd_path: %s/mux\n" % mux_dir)
        d = subprocess.Popen(["saslauthd", "-d", "-a", "shadow", "-n", "1",
                              "-m", mux_dir], start_new_session=True,
                             stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        try:
            try:
                wait_for(lambda: os.path.exists(mux_dir + "/mux"),
                         timeout=5, what="saslauthd socket")
            except AssertionError:
                pytest.skip("saslauthd did not start here")
            os.chmod(mux_dir + "/mux", 0o777)
            s.start()
            c = smtplib.SMTP("127.0.0.1", s.p.sub_port, timeout=20)
            c.starttls(context=ctx())
            c.ehlo("x.example")
            c.login(user, PASSWORD)
            c.quit()
            c = smtplib.SMTP("127.0.0.1", s.p.sub_port, timeout=20)
            c.starttls(context=ctx())
            c.ehlo("x.example")
            with pytest.raises(smtplib.SMTPAuthenticationError):
                c.login(user, "wrong")
            c.quit()
            assert "sasl_username=%s" % user in s.p.log()
            assert_no_password(s.p)
        finally:
            d.terminate()
            d.wait(10)
    finally:
        if made:
            subprocess.run(["userdel", user], check=False)
