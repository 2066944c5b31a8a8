"""Mail loops by hop count: a message that would carry more than max_hops
Received: lines (counting postern's own) is refused with 554 5.4.6 before
its 250 and never queued, over SMTP and through sendmail; one under the
limit is delivered byte for byte. import-mc maps Sendmail's confMAX_HOP."""

import subprocess

from conftest import POSTERN, wait_for
from test_admin import entry
from test_core import cmd, raw, reply
from test_import_mc import keys, run


def message(n_received, tag):
    hops = "".join("Received: from h%d.example by h%d.example; "
                   "Mon, 30 Nov 2026 10:00:00 +0000\r\n" % (i, i + 1)
                   for i in range(n_received))
    return (hops + "From: <a@client.test>\r\nSubject: %s\r\n\r\n"
            "body %s\r\n" % (tag, tag))


def send(p, rcpt, data):
    s, f = raw(p)
    try:
        assert cmd(s, f, "EHLO client.test")[0] == 250
        assert cmd(s, f, "MAIL FROM:<a@client.test>")[0] == 250
        assert cmd(s, f, "RCPT TO:<%s>" % rcpt)[0] == 250
        assert cmd(s, f, "DATA")[0] == 354
        s.sendall(data.encode() + b".\r\n")
        return reply(f)
    finally:
        s.close()


def test_too_many_hops_refused_and_not_queued(make_postern, users):
    p = make_postern(extra="max_hops = 5\n")
    alice = users["alice"]
    # 4 Received: + postern's own = 5: delivered
    code, text = send(p, "%s@localhost" % alice, message(4, "four"))
    assert code == 250, text
    box = p.wait_mbox(alice, b"body four\n")
    assert box.count(b"\nReceived: ") == 5
    # 5 + postern's own = 6 > 5: a loop, refused at the end of DATA
    code, text = send(p, "%s@localhost" % alice, message(5, "five"))
    assert code == 554 and "5.4.6 Too many hops" in text, text
    wait_for(p.queue_empty, what="queue empty")
    assert b"body five" not in p.mbox(alice)
    for sub in ("incoming", "active", "deferred"):
        assert p.queue_files(sub) == []
    wait_for(lambda: "reject: 554 5.4.6 Too many hops" in
             open(p.logfile, errors="replace").read(), what="log line")


def test_too_many_hops_through_sendmail(make_postern, users):
    p = make_postern()
    alice = users["alice"]
    r = entry(p, "sendmail", "-i", "%s@localhost" % alice,
              input=message(25, "loop").replace("\r\n", "\n"))
    assert r.returncode != 0
    assert "5.4.6 Too many hops" in r.stderr, r.stderr
    r = entry(p, "sendmail", "-i", "%s@localhost" % alice,
              input=message(24, "fine").replace("\r\n", "\n"))
    assert r.returncode == 0, r.stderr
    assert b"body fine" in p.wait_mbox(alice, b"body fine\n")
    assert b"body loop" not in p.mbox(alice)


def test_bad_max_hops_is_an_error_naming_the_line(tmp_path):
    conf = tmp_path / "postern.conf"
    conf.write_text("queue_dir = %s\nlog = stderr\nmax_hops = 0\n" %
                    (tmp_path / "q"))
    r = subprocess.run([POSTERN, "-c", str(conf), "check"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0
    assert "%s:3" % conf in r.stderr, r.stderr


def test_import_mc_maps_conf_max_hop(tmp_path):
    mc = tmp_path / "sendmail.mc"
    mc.write_text("define(`confMAX_HOP', `17')dnl\n")
    out = tmp_path / "out"
    r = run(str(mc), "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert keys((out / "postern.conf").read_text())[(None, "max_hops")] \
        == "17"
