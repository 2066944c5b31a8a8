"""A private Dovecot LMTP store for the tests and the benchmark: only LMTP,
its own base_dir and config, Maildirs under a temp directory owned by
nobody, a passwd-file userdb with a static uid; started and stopped by
its PID, never the system's dovecot service. Needs dovecot-core and
dovecot-lmtpd (make deps)."""

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time


def _wait(fn, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if fn():
            return
        time.sleep(0.05)
    raise RuntimeError("timed out waiting for %s" % what)


class Dovecot:
    """A private Dovecot with only LMTP, on BASE/lmtp and a TCP port."""

    def __init__(self, users, port, parent="/tmp", tiny_quota=(),
                 strip_domain=False):
        self.base = tempfile.mkdtemp(prefix="pstlm-dovecot-", dir=parent)
        os.chmod(self.base, 0o755)
        self.conf = os.path.join(self.base, "dovecot.conf")
        self.sock = os.path.join(self.base, "lmtp")
        self.logfile = os.path.join(self.base, "dovecot.log")
        self.mail = os.path.join(self.base, "mail")
        self.port = port
        self.proc = None
        nobody = pwd.getpwnam("nobody")
        for d in ("run", "state", "mail"):
            os.makedirs(os.path.join(self.base, d))
        os.chown(self.mail, nobody.pw_uid, nobody.pw_gid)
        with open(os.path.join(self.base, "passwd"), "w") as f:
            for u in users:     # tiny_quota: 1 KiB, a full mailbox
                f.write("%s:::::::%s\n" % (u, "userdb_quota_rule=*:storage=1K"
                                            if u in tiny_quota else ""))
        with open(self.conf, "w") as f:
            f.write("""base_dir = {b}/run
state_dir = {b}/state
log_path = {b}/dovecot.log
info_log_path = {b}/dovecot.log
protocols = lmtp
listen = 127.0.0.1
ssl = no
first_valid_uid = 1
{fmt}mail_location = maildir:{b}/mail/%u
passdb {{
  driver = passwd-file
  args = {b}/passwd
}}
userdb {{
  driver = passwd-file
  args = {b}/passwd
  override_fields = uid={uid} gid={gid} home={b}/mail/%u
}}
mail_plugins = $mail_plugins quota
quota_full_tempfail = yes
plugin {{
  quota = maildir:User quota
}}
service lmtp {{
  unix_listener {b}/lmtp {{
    mode = 0666
  }}
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {port}
  }}
}}
""".format(b=self.base, uid=nobody.pw_uid, gid=nobody.pw_gid, port=port,
           # postern sends "bob", found as is by Dovecot's default (%Lu);
           # Postfix's lmtp client sends "bob@domain": strip_domain
           fmt="auth_username_format = %Ln\n" if strip_domain else ""))

    def start(self):
        # no probe connection: Dovecot would count it as a session
        for path in (self.sock, os.path.join(self.base, "run",
                                             "auth-userdb")):
            if os.path.exists(path):
                os.unlink(path)
        self.proc = subprocess.Popen(["dovecot", "-F", "-c", self.conf],
                                     stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        _wait(lambda: os.path.exists(self.sock) and os.path.exists(
            os.path.join(self.base, "run", "auth-userdb")), 20,
            "dovecot lmtp socket")
        return self

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def log(self):
        try:
            with open(self.logfile, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def sessions(self):
        """LMTP sessions so far, from Dovecot's own log."""
        return sum(1 for line in self.log().splitlines()
                   if "Info: Connect from" in line)

    def fetch(self, user, field="text"):
        """The user's INBOX messages (each its field), oldest first."""
        r = subprocess.run(["doveadm", "-c", self.conf, "fetch", "-u", user,
                            field, "mailbox", "INBOX", "all"],
                           capture_output=True, timeout=30)
        if r.returncode != 0:
            return []
        out = r.stdout
        msgs = []
        for part in out.split(b"\f\n"):
            if not part.strip():
                continue
            prefix = field.encode() + b":\n"
            assert part.startswith(prefix), part[:80]
            msgs.append(part[len(prefix):])
        return msgs

    def count(self, users):
        """Messages in the users' new/ (the benchmark's counter)."""
        n = 0
        for u in users:
            try:
                n += len(os.listdir(os.path.join(self.mail, u, "new")))
            except FileNotFoundError:
                pass
        return n

    def cleanup(self):
        self.stop()
        if os.environ.get("POSTERN_KEEP") is None:
            shutil.rmtree(self.base, ignore_errors=True)
