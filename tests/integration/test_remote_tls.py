"""The remote side of submission (issue 6): STARTTLS to the next hop per
remote_tls (none/may/encrypt/verify) and AUTH to the smarthost with the
remote_auth credentials. Peers are aiosmtpd on 127.0.0.2 with STARTTLS
and/or AUTH and a self-signed certificate made with openssl here (SAN
IP:127.0.0.2 and DNS:mx.pt.example, so both a [127.0.0.2] smarthost and
the MX host of good.pt.example in dnsserver.py can be verified)."""

import base64
import os
import pwd
import shutil
import smtplib
import ssl
import subprocess
import tempfile

import pytest

from conftest import IS_ROOT, free_port, wait_for
from dnsserver import dns  # noqa: F401  (fixture)

PASSWORD = "S3cr3t-Pw-xyzzy"
USER = "relayuser"


def make_cert(d, name, cn="mx.pt.example",
              san="IP:127.0.0.2,DNS:mx.pt.example"):
    cert = os.path.join(d, name + ".pem")
    key = os.path.join(d, name + ".key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048",
                    "-nodes", "-days", "2", "-subj", "/CN=" + cn,
                    "-addext", "subjectAltName=" + san,
                    "-keyout", key, "-out", cert],
                   check=True, capture_output=True)
    os.chmod(cert, 0o644)
    return cert, key


@pytest.fixture
def pki():
    """A directory the workers can read: the peer's certificate (its own
    CA), another unrelated self-signed certificate (the wrong CA)."""
    d = tempfile.mkdtemp(prefix="postern-rtls-", dir="/tmp")
    os.chmod(d, 0o755)
    good = make_cert(d, "peer")
    wrong = make_cert(d, "other", cn="other.example", san="DNS:other.example")
    yield {"dir": d, "cert": good[0], "key": good[1], "wrong": wrong[0]}
    shutil.rmtree(d, ignore_errors=True)


def auth_file(d, lines, mode=0o600):
    path = os.path.join(d, "remote_auth")
    with open(path, "w") as f:
        f.write("# host user:password\n" + "".join(l + "\n" for l in lines))
    os.chmod(path, mode)
    if IS_ROOT:     # the remote agent runs as the conftest's worker user
        nobody = pwd.getpwnam("nobody")
        os.chown(path, nobody.pw_uid, nobody.pw_gid)
    return path


class TLSPeer:
    """aiosmtpd on 127.0.0.2 with STARTTLS (tls=True) and/or AUTH
    (auth=True; PLAIN and LOGIN, or only those in mechs). Records for
    each message whether it came over TLS and who had logged in."""

    def __init__(self, port, pki, tls=True, auth=False, mechs=None,
                 auth_require_tls=True):
        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult
        self.port = port
        self.messages = []      # (mail_from, rcpts, content, tls, login)
        self.logins = []        # (mechanism, login) that succeeded
        self.failed = []        # (mechanism, login) that did not
        peer = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                login = None
                if session.authenticated and session.auth_data:
                    login = session.auth_data.login.decode()
                peer.messages.append((envelope.mail_from,
                                      list(envelope.rcpt_tos),
                                      envelope.original_content,
                                      session.ssl is not None, login))
                return "250 2.0.0 Ok: queued at tls peer"

        def authenticator(server, session, envelope, mechanism, data):
            login = data.login.decode()
            if login == USER and data.password.decode() == PASSWORD:
                peer.logins.append((mechanism, login))
                return AuthResult(success=True, auth_data=data)
            peer.failed.append((mechanism, login))
            return AuthResult(success=False, handled=False)

        kw = {}
        if tls:
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ctx.load_cert_chain(pki["cert"], pki["key"])
            kw["tls_context"] = ctx
        if auth:
            kw["authenticator"] = authenticator
            kw["auth_require_tls"] = auth_require_tls
            if mechs is not None:
                kw["auth_exclude_mechanism"] = [
                    m for m in ("PLAIN", "LOGIN") if m not in mechs]
        self.controller = Controller(Handler(), hostname="127.0.0.2",
                                     port=port, decode_data=False,
                                     server_hostname="peer.example", **kw)

    def start(self):
        self.controller.start()
        return self

    def stop(self):
        self.controller.stop()


@pytest.fixture
def tls_peer(pki):
    made = []

    def make(port, **kw):
        p = TLSPeer(port, pki, **kw).start()
        made.append(p)
        return p
    yield make
    for p in made:
        try:
            p.stop()
        except Exception:
            pass


def instance(make_postern, port, extra=""):
    return make_postern(extra="smarthost = [127.0.0.2]:%d\n%s" % (port, extra))


def send(p, rcpt="far@remote.example", body="hello over tls"):
    s = smtplib.SMTP("127.0.0.1", p.port, timeout=20)
    s.sendmail("sender@client.test", [rcpt],
               "Subject: remote tls\r\n\r\n%s\r\n" % body)
    s.quit()


def deferred_reason(p, needle):
    wait_for(lambda: p.queue_files("deferred"), what="deferred")
    q = wait_for(lambda: needle in p.cli("queue").stdout and
                 p.cli("queue").stdout, what="%r in postern queue" % needle)
    return q


def no_secret(p):
    log = p.log()
    plain = base64.b64encode(("\0%s\0%s" % (USER, PASSWORD)).encode())
    assert PASSWORD not in log
    assert base64.b64encode(PASSWORD.encode()).decode() not in log
    assert plain.decode() not in log
    # nor in the queue files
    for sub in ("deferred", "active", "incoming"):
        for n in p.queue_files(sub):
            with open(os.path.join(p.queue, sub, n), "rb") as f:
                assert PASSWORD.encode() not in f.read()


# ------------------------------------------------------------ remote_tls

def test_may_uses_starttls(make_postern, tls_peer):
    port = free_port("127.0.0.2")
    peer = tls_peer(port)
    p = instance(make_postern, port)            # remote_tls = may (default)
    send(p)
    wait_for(lambda: peer.messages, what="delivery")
    assert peer.messages[0][3] is True, "peer did not see TLS"
    assert b"hello over tls" in peer.messages[0][2]
    log = wait_for(lambda: "status=sent" in p.log() and p.log(), what="log")
    assert ("Untrusted TLS connection established to "
            "127.0.0.2[127.0.0.2]:%d: TLSv1." % port) in log


def test_may_without_starttls_is_plaintext(make_postern, tls_peer):
    port = free_port("127.0.0.2")
    peer = tls_peer(port, tls=False)
    p = instance(make_postern, port)
    send(p)
    wait_for(lambda: peer.messages, what="delivery")
    assert peer.messages[0][3] is False
    assert "TLS connection established" not in p.log()


def test_encrypt_plain_peer_deferred(make_postern, tls_peer):
    port = free_port("127.0.0.2")
    peer = tls_peer(port, tls=False)
    p = instance(make_postern, port, "remote_tls = encrypt\n")
    send(p)
    q = deferred_reason(p, "TLS is required")
    assert ("4.7.4 TLS is required, but was not offered by host "
            "127.0.0.2[127.0.0.2]") in q, q
    assert not peer.messages
    assert "status=deferred" in p.log()


def test_encrypt_tls_peer_delivered(make_postern, tls_peer, pki):
    port = free_port("127.0.0.2")
    peer = tls_peer(port)
    # the wrong CA does not matter for encrypt: no verification
    p = instance(make_postern, port, "remote_tls = encrypt\ntls_ca = %s\n"
                 % pki["wrong"])
    send(p)
    wait_for(lambda: peer.messages, what="delivery")
    assert peer.messages[0][3] is True


def test_verify_right_ca_delivered(make_postern, tls_peer, pki):
    port = free_port("127.0.0.2")
    peer = tls_peer(port)
    p = instance(make_postern, port, "remote_tls = verify\ntls_ca = %s\n"
                 % pki["cert"])
    send(p)
    wait_for(lambda: peer.messages, what="delivery")
    assert peer.messages[0][3] is True
    wait_for(lambda: "Verified TLS connection established to "
             "127.0.0.2[127.0.0.2]" in p.log(), what="verified in log")


def test_verify_wrong_ca_deferred(make_postern, tls_peer, pki):
    port = free_port("127.0.0.2")
    peer = tls_peer(port)
    p = instance(make_postern, port, "remote_tls = verify\ntls_ca = %s\n"
                 % pki["wrong"])
    send(p)
    q = deferred_reason(p, "certificate not trusted")
    assert "4.7.5 Cannot start TLS with 127.0.0.2[127.0.0.2]" in q, q
    assert not peer.messages


def test_verify_system_store_rejects_self_signed(make_postern, tls_peer):
    port = free_port("127.0.0.2")
    peer = tls_peer(port)
    p = instance(make_postern, port, "remote_tls = verify\n")
    send(p)
    deferred_reason(p, "certificate not trusted")
    assert not peer.messages


def test_verify_mx_host_name(make_postern, tls_peer, pki, dns):
    """MX delivery: the name checked is the MX host's (mx.pt.example is
    in the certificate); a host whose name is not is refused."""
    port = free_port("127.0.0.2")
    peer = tls_peer(port)
    p = make_postern(extra="dns_servers = %s\nsmarthost =\nremote_port = %d\n"
                     "remote_tls = verify\ntls_ca = %s\n"
                     % (dns.spec, port, pki["cert"]))
    send(p, "u@good.pt.example")
    wait_for(lambda: peer.messages, what="delivery by MX")
    assert peer.messages[0][3] is True
    wait_for(lambda: "Verified TLS connection established to "
             "mx.pt.example[127.0.0.2]" in p.log(), what="verified")
    send(p, "u@aonly.pt.example")
    q = deferred_reason(p, "certificate name does not match")
    assert "aonly.pt.example" in q
    assert len(peer.messages) == 1


# ------------------------------------------------------------ remote_auth

def auth_instance(make_postern, pki, port, extra="", password=PASSWORD):
    path = auth_file(pki["dir"], [
        "other.example someone:else",
        "[127.0.0.2]:%d %s:%s" % (port, USER, password)])
    return instance(make_postern, port, "remote_auth = %s\n%s" % (path, extra))


def test_auth_plain_after_tls(make_postern, tls_peer, pki):
    """remote_tls = may (default) with the peer's CA: the session is
    verified, so the credentials go."""
    port = free_port("127.0.0.2")
    peer = tls_peer(port, auth=True)
    p = auth_instance(make_postern, pki, port, "tls_ca = %s\n" % pki["cert"])
    send(p)
    wait_for(lambda: peer.messages, what="delivery")
    assert peer.logins == [("PLAIN", USER)]
    assert peer.messages[0][3] is True and peer.messages[0][4] == USER
    log = wait_for(lambda: "status=sent" in p.log() and p.log(), what="log")
    assert "authenticated to 127.0.0.2[127.0.0.2]:%d as %s (PLAIN)" % (
        port, USER) in log
    no_secret(p)


def test_auth_login_when_plain_not_offered(make_postern, tls_peer, pki):
    port = free_port("127.0.0.2")
    peer = tls_peer(port, auth=True, mechs=["LOGIN"])
    p = auth_instance(make_postern, pki, port, "tls_ca = %s\n" % pki["cert"])
    send(p)
    wait_for(lambda: peer.messages, what="delivery")
    assert peer.logins == [("LOGIN", USER)]
    no_secret(p)


def test_auth_wrong_password_deferred(make_postern, tls_peer, pki):
    port = free_port("127.0.0.2")
    peer = tls_peer(port, auth=True)
    p = auth_instance(make_postern, pki, port, "tls_ca = %s\n" % pki["cert"],
                      password=PASSWORD + "-wrong")
    send(p)
    q = deferred_reason(p, "SASL authentication failed")
    assert "535 5.7.8" in q and "4.7.8" in q, q
    assert peer.failed == [("PLAIN", USER)] and not peer.messages
    assert "status=deferred" in p.log()
    assert "status=bounced" not in p.log()
    assert PASSWORD not in p.log()      # nor the wrong one's prefix


def test_auth_never_over_plaintext(make_postern, tls_peer, pki):
    """A peer without STARTTLS that offers AUTH: with remote_tls = may the
    credentials are not sent and the mail waits."""
    port = free_port("127.0.0.2")
    peer = tls_peer(port, tls=False, auth=True, auth_require_tls=False)
    p = auth_instance(make_postern, pki, port)
    send(p)
    q = deferred_reason(p, "sent only over TLS")
    assert "4.7.0" in q
    assert not peer.logins and not peer.failed and not peer.messages
    no_secret(p)


def test_auth_plaintext_with_remote_tls_none(make_postern, tls_peer, pki):
    port = free_port("127.0.0.2")
    peer = tls_peer(port, tls=False, auth=True, auth_require_tls=False)
    p = auth_instance(make_postern, pki, port,
                      "remote_tls = none\nremote_auth_tls = none\n")
    send(p)
    wait_for(lambda: peer.messages, what="delivery")
    assert peer.logins == [("PLAIN", USER)]
    assert peer.messages[0][3] is False
    no_secret(p)


def test_remote_auth_mode_checked(make_postern, pki):
    """A remote_auth file others may read: postern check (and start)
    refuse it. (remote also re-checks the mode before each use.)"""
    path = auth_file(pki["dir"], ["[127.0.0.2]:25 %s:%s" % (USER, PASSWORD)])
    p = make_postern(extra="remote_auth = %s\n" % path, start=False)
    assert p.cli("check", check=False).returncode == 0
    os.chmod(path, 0o644)
    r = p.cli("check", check=False)
    assert r.returncode != 0
    assert "chmod 600" in r.stdout + r.stderr
    assert PASSWORD not in r.stdout + r.stderr


# ------------------------------------- credentials only over verified TLS

def test_auth_encrypt_unverified_never_sent(make_postern, tls_peer, pki):
    """remote_tls = encrypt, a self-signed peer that offers AUTH: the
    credentials are never sent (remote_auth_tls = verify by default), the
    mail waits with the reason."""
    port = free_port("127.0.0.2")
    peer = tls_peer(port, auth=True)
    p = auth_instance(make_postern, pki, port, "remote_tls = encrypt\n")
    send(p)
    q = deferred_reason(p, "unverified")
    assert ("4.7.5 would send credentials for [127.0.0.2]:%d over an "
            "unverified TLS session" % port) in q, q
    assert not peer.logins and not peer.failed and not peer.messages
    assert "status=deferred" in p.log()
    no_secret(p)


def test_auth_may_unverified_never_sent(make_postern, tls_peer, pki):
    """The default remote_tls = may: TLS with an untrusted certificate is
    not enough for the credentials either (the wrong CA given)."""
    port = free_port("127.0.0.2")
    peer = tls_peer(port, auth=True)
    p = auth_instance(make_postern, pki, port, "tls_ca = %s\n" % pki["wrong"])
    send(p)
    q = deferred_reason(p, "unverified")
    assert "4.7.5" in q, q
    assert not peer.logins and not peer.failed and not peer.messages


def test_auth_verify_with_ca_delivered(make_postern, tls_peer, pki):
    port = free_port("127.0.0.2")
    peer = tls_peer(port, auth=True)
    p = auth_instance(make_postern, pki, port, "remote_tls = verify\n"
                      "tls_ca = %s\n" % pki["cert"])
    send(p)
    wait_for(lambda: peer.messages, what="delivery")
    assert peer.logins == [("PLAIN", USER)]
    assert peer.messages[0][3] is True and peer.messages[0][4] == USER
    wait_for(lambda: "Verified TLS connection established" in p.log(),
             what="verified")
    no_secret(p)


def test_auth_tls_encrypt_allows_unverified(make_postern, tls_peer, pki):
    """The admin asks for less: remote_auth_tls = encrypt."""
    port = free_port("127.0.0.2")
    peer = tls_peer(port, auth=True)
    p = auth_instance(make_postern, pki, port, "remote_tls = encrypt\n"
                      "remote_auth_tls = encrypt\n")
    send(p)
    wait_for(lambda: peer.messages, what="delivery")
    assert peer.logins == [("PLAIN", USER)]
    assert peer.messages[0][3] is True


def test_check_refuses_auth_that_can_never_go(make_postern, pki):
    """remote_tls = none with remote_auth: the credentials could never be
    sent (remote_auth_tls = verify): postern check refuses it."""
    path = auth_file(pki["dir"], ["[127.0.0.2]:25 %s:%s" % (USER, PASSWORD)])
    p = make_postern(start=False)
    with open(p.conf) as f:
        base = f.read()

    def check(extra):
        with open(p.conf, "w") as f:
            f.write(base.replace("\n[smtp]\n", "\n%s\n[smtp]\n" % extra))
        return p.cli("check", check=False)
    r = check("remote_auth = %s\nremote_tls = none" % path)
    assert r.returncode != 0
    assert "remote_auth_tls" in r.stdout + r.stderr
    assert PASSWORD not in r.stdout + r.stderr
    r = check("remote_auth = %s\nremote_tls = encrypt\n"
              "remote_auth_tls = encrypt" % path)
    assert r.returncode == 0, r.stdout + r.stderr
    r = check("remote_auth = %s\nremote_tls = none\nremote_auth_tls = none"
              % path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert check("remote_auth_tls = bogus").returncode != 0
    check("remote_auth = %s\nremote_tls = none" % path)
    r = p.cli("start", check=False)     # start refuses it too
    assert "remote_auth_tls" in r.stdout + r.stderr
    assert r.returncode != 0


# ------------------------------------------------ forward-secret ciphers

def test_remote_refuses_rsa_key_exchange(make_postern, pki):
    """A peer that only speaks TLS 1.2 with RSA key exchange (AES128-SHA):
    remote's handshake fails, the mail waits."""
    from aiosmtpd.controller import Controller
    port = free_port("127.0.0.2")
    got = []

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            got.append(envelope.original_content)
            return "250 2.0.0 Ok"
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pki["cert"], pki["key"])
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers("AES128-SHA:@SECLEVEL=0")
    c = Controller(Handler(), hostname="127.0.0.2", port=port,
                   decode_data=False, tls_context=ctx,
                   server_hostname="peer.example")
    c.start()
    try:
        p = instance(make_postern, port, "remote_tls = encrypt\n")
        send(p)
        q = deferred_reason(p, "Cannot start TLS")
        assert "4.7.5" in q, q
        assert not got
    finally:
        c.stop()


def s_client(port, *args):
    return subprocess.run(
        ["openssl", "s_client", "-connect", "127.0.0.1:%d" % port,
         "-starttls", "smtp", "-tls1_2"] + list(args),
        input="QUIT\n", capture_output=True, text=True, timeout=30)


def test_smtpd_refuses_rsa_key_exchange(make_postern):
    p = make_postern(tls=True)
    r = s_client(p.port, "-cipher", "AES128-SHA:@SECLEVEL=0")
    assert "Cipher is AES128-SHA" not in r.stdout, r.stdout
    assert r.returncode != 0, r.stdout + r.stderr
    r = s_client(p.port, "-cipher", "ECDHE-RSA-AES128-GCM-SHA256")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "ECDHE-RSA-AES128-GCM-SHA256" in r.stdout
