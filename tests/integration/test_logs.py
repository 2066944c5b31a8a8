"""Logs that existing tools read (Step 5, item 5): pflogsumm, run over
the log of a run whose traffic the test knows, counts the same
received, delivered, deferred, bounced and rejected messages; the log
lines trace mail truly (the message's own Message-ID, the bounce's
queue IDs, Postfix's ok/total command counts)."""
import re
import shutil
import smtplib
import subprocess

import pytest

from conftest import wait_for
from test_spool import sendmail


def grand_totals(logfile):
    r = subprocess.run(["pflogsumm", "--syslog-name=postern", logfile],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    tot = {}
    for m in re.finditer(r"^\s+(\d+)\s+(received|delivered|forwarded|"
                         r"deferred|bounced|rejected)\b", r.stdout, re.M):
        tot.setdefault(m.group(2), int(m.group(1)))
    return tot, r.stdout


@pytest.mark.skipif(shutil.which("pflogsumm") is None,
                    reason="pflogsumm not installed (make deps)")
def test_pflogsumm_counts_what_happened(make_postern, users):
    p = make_postern(extra="delay_warning = 0\n")
    a = users["alice"]
    s = smtplib.SMTP("127.0.0.1", p.port, timeout=20)
    for i in range(3):                                  # 3 delivered
        s.sendmail("s%d@client.test" % i, [a],
                   "Message-ID: <local-%d@client.test>\r\nSubject: %d\r\n"
                   "\r\nbody\r\n" % (i, i))
    for bad in ("nosuchuser1", "nosuchuser2"):          # 2 rejected
        try:
            s.sendmail("x@client.test", ["%s@test.example" % bad], "x")
        except smtplib.SMTPRecipientsRefused:
            pass
    # 1 deferred: the smarthost (127.0.0.2) is down
    s.sendmail("r@client.test", ["far@remote.example"],
               "Subject: far\r\n\r\nfar away\r\n")
    s.quit()
    # 1 bounced: a local submission to a user that does not exist
    r = sendmail(p, ["-i", "-f", "b@client.test", "ghost@localhost"],
                 b"Subject: ghost\n\nboo\n")
    assert r.returncode == 0, r.stderr
    wait_for(lambda: p.mbox_count(a) >= 3, what="3 delivered")
    wait_for(lambda: "status=bounced" in p.log(), what="bounce")
    wait_for(lambda: p.queue_files("deferred") and
             "status=deferred" in p.log(), what="deferred")
    # The bounce (to b@client.test, relayed) defers too: wait for it.
    wait_for(lambda: len(p.queue_files("deferred")) == 2, what="2 deferred")
    log = p.log()
    tot, out = grand_totals(p.logfile)
    # received: what smtpd queued (3 + 1 relayed), as pflogsumm counts
    # Postfix's smtpd "client=" lines; local submissions log "uid=".
    assert tot["received"] == 4, out
    assert tot["delivered"] == 3, out
    assert tot["deferred"] == 2, out
    assert tot["bounced"] == 1, out
    assert tot["rejected"] == 2, out
    # The log traces mail truly.
    for i in range(3):
        assert "message-id=<local-%d@client.test>" % i in log
    m = re.search(r"qmgr\[\d+\]: ([0-9A-F]{16}): sender non-delivery "
                  r"notification: ([0-9A-F]{16})", log)
    assert m, log
    bounce_id = m.group(2)
    assert "%s: message-id=<%s@mx.test.example>" % (bounce_id, bounce_id) \
        in log or "%s: from=<>" % bounce_id in log
    show = p.cli("queue", "show", bounce_id).stdout
    assert "X-Postern-Queue-ID: %s" % m.group(1) in show


def test_disconnect_counts_failed_commands(postern, users):
    s = smtplib.SMTP("127.0.0.1", postern.port, timeout=20)
    s.ehlo("counter.test")
    s.docmd("FROB")
    s.mail("x@client.test")
    s.rcpt("nosuch@test.example")                        # 550
    s.rcpt(users["alice"])                               # 250
    s.rset()
    s.quit()
    line = wait_for(lambda: [l for l in postern.log().splitlines()
                             if "disconnect from" in l and "ehlo=" in l],
                    what="disconnect line")[-1]
    assert "ehlo=1 mail=1 rcpt=1/2 rset=1 quit=1 unknown=0/1 " \
        "commands=5/7" in line, line
