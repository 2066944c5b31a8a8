"""
The TLS check of the configuration runs in a program of its own,
tlscheck (Step 7, item 3: memory at rest): neither postern nor its
resting master maps OpenSSL, and a bad certificate or key is still
refused, naming file:line, by check, at start and at reload, where the
old configuration keeps serving.
"""
import os
import re
import signal
import smtplib
import ssl
import subprocess

from conftest import BUILD, POSTERN, wait_for

OPENSSL = ("libcrypto", "libssl")


def ldd(prog):
    r = subprocess.run(["ldd", prog], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_only_tlscheck_links_openssl_for_the_check():
    assert not any(lib in ldd(POSTERN) for lib in OPENSSL)
    assert "libcrypto" in ldd(os.path.join(BUILD, "tlscheck"))


def starttls_cert(p):
    """The DER certificate smtpd shows after STARTTLS on p's smtp port."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    s = smtplib.SMTP("127.0.0.1", p.port, timeout=20)
    s.ehlo("client.test")
    s.starttls(context=ctx)
    der = s.sock.getpeercert(binary_form=True)
    s.quit()
    return der


def pem_der(path):
    with open(path) as f:
        return ssl.PEM_cert_to_DER_cert(f.read())


def test_resting_master_maps_no_openssl(make_postern):
    p = make_postern(tls=True)
    with open("/proc/%d/maps" % p.master_pid()) as f:
        maps = f.read()
    assert not any(lib in maps for lib in OPENSSL), maps
    assert starttls_cert(p) == pem_der(p.cert)


def set_conf(p, old, new):
    with open(p.conf) as f:
        text = f.read()
    assert old in text
    text = text.replace(old, new)
    with open(p.conf, "w") as f:
        f.write(text)
    lines = text.split("\n")
    return [i + 1 for i, ln in enumerate(lines) if ln == new][0]


def smtpd_pids(p):
    return sorted(pid for pid, _, _ in p.children("smtpd"))


def refused_reload(p, n, pattern):
    """SIGHUP to master; its nth refusal names pattern; nothing restarts."""
    before = smtpd_pids(p)
    os.kill(p.master_pid(), signal.SIGHUP)
    wait_for(lambda: p.log().count("reload refused") == n, what="refusal")
    assert re.search(pattern, p.log()), p.log()
    assert smtpd_pids(p) == before
    assert starttls_cert(p) == pem_der(p.cert)


def test_bad_key_and_cert_refused_at_reload(make_postern):
    p = make_postern(tls=True)
    other = os.path.join(p.base, "etc", "other.pem")
    subprocess.run(["openssl", "genrsa", "-out", other, "2048"],
                   check=True, capture_output=True)
    line = set_conf(p, "tls_key = %s" % p.key, "tls_key = %s" % other)
    refused_reload(p, 1, r"%s:%d: \[smtp\] tls_key %s does not match" % (
        re.escape(p.conf), line, re.escape(other)))
    with open(other, "w") as f:
        f.write("not a key\n")
    refused_reload(p, 2, r"%s:%d: bad private key in %s" % (
        re.escape(p.conf), line, re.escape(other)))
    set_conf(p, "tls_key = %s" % other, "tls_key = %s" % p.key)
    bad = os.path.join(p.base, "etc", "bad-cert.pem")
    with open(bad, "w") as f:
        f.write("-----BEGIN CERTIFICATE-----\nAAAA\n"
                "-----END CERTIFICATE-----\n")
    line = set_conf(p, "tls_cert = %s" % p.cert, "tls_cert = %s" % bad)
    refused_reload(p, 3, r"%s:%d: bad certificate chain in %s" % (
        re.escape(p.conf), line, re.escape(bad)))
    # fixed: the reload goes through and the new smtpds serve
    set_conf(p, "tls_cert = %s" % bad, "tls_cert = %s" % p.cert)
    before = smtpd_pids(p)
    os.kill(p.master_pid(), signal.SIGHUP)
    wait_for(lambda: "reload: configuration" in p.log(), what="reload")
    wait_for(lambda: smtpd_pids(p) and not set(smtpd_pids(p)) & set(before),
             what="new smtpds")
    assert p.log().count("reload refused") == 3
    assert starttls_cert(p) == pem_der(p.cert)


def test_check_without_tlscheck_says_so(make_postern):
    p = make_postern(tls=True, start=False)
    env = dict(p.env, POSTERN_LIBEXEC=os.path.join(p.base, "nowhere"))
    r = subprocess.run([POSTERN, "-c", p.conf, "check"], env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0
    assert "nowhere/tlscheck" in r.stderr, r.stderr
    assert p.cli("check").returncode == 0
