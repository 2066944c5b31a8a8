"""Any local user can submit with sendmail in a normal set-up (Step 5,
item 2): the private files (a 0600 TLS key, the remote_auth secrets) are
read only by check/start/master, never by a user's sendmail."""
import os
import pwd
import shutil
import subprocess

import pytest

from conftest import IS_ROOT, POSTERN
from test_spool import sendmail


@pytest.mark.skipif(not IS_ROOT, reason="needs a second user")
def test_sendmail_by_user_with_private_tls_key(make_postern, users):
    p = make_postern(tls=True, start=False)
    os.chmod(p.key, 0o600)
    secret = os.path.join(p.base, "etc", "relay-auth")
    with open(secret, "w") as f:
        f.write("[127.0.0.2]:%d relayuser:relaypass\n" % p.smarthost_port)
    os.chmod(secret, 0o600)
    with open(p.conf) as f:
        conf = f.read()
    with open(p.conf, "w") as f:
        f.write(conf.replace("[smtp]", "remote_auth = %s\n[smtp]" % secret,
                             1))
    p.start()
    r = sendmail(p, ["-i", users["alice"]],
                 b"Subject: from bob\n\nkey is 0600\n", user=users["bob"])
    assert r.returncode == 0, r.stderr
    p.wait_mbox(users["alice"], "key is 0600")
    # The full check still reads them: bob's `postern check` names the key.
    pst = os.path.join(p.base, "postern")
    shutil.copy(POSTERN, pst)
    os.chmod(pst, 0o755)
    pw = pwd.getpwnam(users["bob"])

    def as_bob():
        os.setgid(pw.pw_gid)
        os.setuid(pw.pw_uid)
    r = subprocess.run([pst, "-c", p.conf, "check"], capture_output=True,
                       preexec_fn=as_bob, timeout=60)
    assert r.returncode != 0 and b"tls_key" in r.stderr, r
