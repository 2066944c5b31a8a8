"""Step 3 routing (SPEC sections 3, 4, 9): virtual_map (virtusertable) and
transport_map (mailertable) on the wire, with the real daemons, aiosmtpd
peers on 127.0.0.2 and the test DNS server; their validation at `postern
map` and `postern check`; `postern route` and `sendmail -bv`; reload
picking up a recompiled map. Our hostname is mx.test.example; the
smarthost is the peer on postern.smarthost_port."""

import os
import shutil
import smtplib
import subprocess

import pytest

from conftest import POSTERN, free_port, wait_for
from dnsserver import dns  # noqa: F401  (fixture)

VIRTUAL = """# virtusertable
info@virt.example    {alice}
sales@virt.example   someone@remote.example
team@virt.example    team
bad@virt.example     error:5.1.1:550 No such person here
gone@virt.example    error:nouser
@virt.example        %1@test.example
only@virt2.example   {bob}
"""


def instance(make_postern, users, mailertable="", extra=""):
    p = make_postern(start=False, extra="")
    etc = os.path.join(p.base, "etc")
    with open(p.conf) as f:
        text = f.read()
    with open(p.conf, "w") as f:
        f.write(text.replace("min_backoff", (
            "virtual_map = {e}/virtusertable\n"
            "transport_map = {e}/mailertable\n{x}min_backoff").format(
                e=etc, x=extra), 1))
    with open(os.path.join(etc, "local-host-names"), "a") as f:
        f.write("virt.example\nvirt2.example\n")
    with open(os.path.join(etc, "virtusertable"), "w") as f:
        f.write(VIRTUAL.format(alice=users["alice"], bob=users["bob"]))
    with open(os.path.join(etc, "mailertable"), "w") as f:
        f.write(mailertable)
    with open(os.path.join(etc, "aliases"), "a") as f:
        f.write("tovirt: info@virt.example\ntoremote: sales@virt.example\n")
    p.cli("aliases")
    p.cli("map", os.path.join(etc, "virtusertable"))
    p.cli("map", os.path.join(etc, "mailertable"))
    p.start()
    return p


def session(p):
    s = smtplib.SMTP("127.0.0.1", p.port, timeout=30)
    s.ehlo("client.test")
    assert s.mail("a@client.test")[0] == 250
    return s


def sendmail(p, args, data):
    sm = os.path.join(p.base, "sendmail")
    if not os.path.exists(sm):
        shutil.copy(POSTERN, sm)
        os.chmod(sm, 0o755)
    return subprocess.run([sm] + args, input=data, env=p.env,
                          capture_output=True, text=True, timeout=60)


def test_virtual_domain_on_the_wire(make_postern, users, peer_factory):
    p = instance(make_postern, users)
    peer = peer_factory(p.smarthost_port)
    alice, bob = users["alice"], users["bob"]
    s = session(p)
    # user@domain to a local user, catch-all with %1, an alias, a remote
    for rcpt in ("info@virt.example", "%s@virt.example" % bob,
                 "team@virt.example", "sales@virt.example"):
        assert s.rcpt(rcpt)[0] == 250, rcpt
    # error: rows get exactly their reply
    assert s.rcpt("bad@virt.example") == (550, b"5.1.1 No such person here")
    assert s.rcpt("gone@virt.example") == (550, b"5.1.1 User unknown")
    # the catch-all names a user that does not exist: refused, not bounced
    code, text = s.rcpt("nosuchuser12@virt.example")
    assert (code, text[:6]) == (550, b"5.1.1 "), text
    # no entry and no catch-all in virt2.example: not a user either
    code, text = s.rcpt("zzz@virt2.example")
    assert code == 550 and b"5.1.1" in text
    assert s.rcpt("only@virt2.example")[0] == 250
    s.data("Subject: virtual\r\n\r\nto the virtual domain\r\n")
    s.quit()
    p.wait_mbox(alice, b"to the virtual domain")
    p.wait_mbox(bob, b"to the virtual domain")
    wait_for(lambda: peer.messages, what="the remote target relayed")
    frm, rcpts, data = peer.messages[0]
    assert rcpts == ["someone@remote.example"]
    wait_for(p.queue_empty, what="queue empty")
    # alice: info@ and the team alias; bob: the catch-all (his own
    # name), the alias and only@virt2
    assert p.mbox_count(alice) == 2
    assert p.mbox_count(bob) == 3
    log = p.log()
    assert "orig_to=<info@virt.example>: virtual_map" in log
    assert "to=<someone@remote.example>, orig_to=<sales@virt.example>" in log


def test_alias_target_in_a_virtual_domain(make_postern, users,
                                          peer_factory):
    """An alias target in a local domain goes through virtual_map too
    (virtual_map, then aliases, SPEC section 9)."""
    p = instance(make_postern, users)
    peer = peer_factory(p.smarthost_port)
    s = session(p)
    assert s.rcpt("tovirt@mx.test.example")[0] == 250
    assert s.rcpt("toremote@mx.test.example")[0] == 250
    s.data("Subject: alias\r\n\r\nalias into a virtual domain\r\n")
    s.quit()
    p.wait_mbox(users["alice"], b"alias into a virtual domain")
    wait_for(lambda: peer.messages, what="forwarded to the remote target")
    assert peer.messages[0][1] == ["someone@remote.example"]
    wait_for(p.queue_empty, what="queue empty")


def test_virtual_error_refuses_local_submission(make_postern, users):
    p = instance(make_postern, users)
    r = sendmail(p, ["bad@virt.example"], "Subject: x\n\nbody\n")
    assert r.returncode != 0
    assert "550 5.1.1 No such person here" in r.stderr
    assert p.queue_empty()
    # a good virtual recipient by sendmail is rewritten and delivered
    r = sendmail(p, ["info@virt.example"], "Subject: y\n\nby sendmail\n")
    assert r.returncode == 0, r.stderr
    p.wait_mbox(users["alice"], b"by sendmail")


def test_mailertable_relay_local_error_and_smarthost(make_postern, users,
                                                     peer_factory):
    direct = free_port("127.0.0.2")
    p = instance(make_postern, users, mailertable=(
        "dest.example     relay:[127.0.0.2]:%d\n"
        ".dest.example    relay:[127.0.0.2]:%d\n"
        "loc.example      local:\n"
        "one.example      local:%s\n"
        "err.example      error:5.7.1:550 We do not deliver there\n"
        % (direct, direct, users["bob"])))
    smart = peer_factory(p.smarthost_port)
    peer = peer_factory(direct)
    s = session(p)
    for rcpt in ("x@dest.example", "y@a.b.dest.example",
                 "%s@loc.example" % users["alice"], "whoever@one.example",
                 "z@elsewhere.example"):
        assert s.rcpt(rcpt)[0] == 250, rcpt
    assert s.rcpt("u@err.example") == (550, b"5.7.1 We do not deliver there")
    # local: to a user who does not exist is refused, never bounced
    code, text = s.rcpt("nosuchuser12@loc.example")
    assert code == 550 and b"5.1.1" in text
    s.data("Subject: routed\r\n\r\nmailertable\r\n")
    s.quit()
    wait_for(lambda: peer.messages and smart.messages, what="both peers")
    # transport_map wins over the smarthost; the rest goes to the smarthost
    assert sorted(peer.messages[0][1]) == ["x@dest.example",
                                           "y@a.b.dest.example"]
    assert smart.messages[0][1] == ["z@elsewhere.example"]
    p.wait_mbox(users["alice"], b"mailertable")
    p.wait_mbox(users["bob"], b"mailertable")
    wait_for(p.queue_empty, what="queue empty")
    assert len(peer.messages) == 1 and len(smart.messages) == 1


def test_mailertable_error_bounces_queued_mail(make_postern, users):
    p = instance(make_postern, users, mailertable=(
        "err.example      error:5.7.1:550 We do not deliver there\n"))
    # a local submission is queued; qmgr bounces it with no agent
    r = sendmail(p, ["-f", users["carol"], "u@err.example"],
                 "Subject: doomed\n\nnever leaves\n")
    assert r.returncode == 0, r.stderr
    box = p.wait_mbox(users["carol"], b"We do not deliver there")
    assert b"Status: 5.7.1" in box
    wait_for(p.queue_empty, what="queue empty")
    assert "relay=" not in [l for l in p.log().splitlines()
                            if "u@err.example" in l][-1]


def test_mailertable_smtp_with_mx(make_postern, users, peer_factory, dns):
    port = free_port("127.0.0.2")
    p = instance(make_postern, users, mailertable=(
        "mx.example       smtp:good.pt.example\n"),
        extra="dns_servers = %s\nremote_port = %d\n" % (dns.spec, port))
    peer = peer_factory(port)
    smart = peer_factory(p.smarthost_port)
    s = session(p)
    assert s.rcpt("u@mx.example")[0] == 250
    s.data("Subject: mx\r\n\r\nvia the MX of good.pt.example\r\n")
    s.quit()
    wait_for(lambda: peer.messages, what="the MX host got it")
    assert peer.messages[0][1] == ["u@mx.example"]
    assert not smart.messages
    # the MX of good.pt.example is mx.pt.example
    assert "relay=mx.pt.example[127.0.0.2]" in p.log()


def test_tls_per_destination(make_postern, users, peer_factory):
    """tls=encrypt on one destination: the plaintext peer (no STARTTLS)
    gets the other destination's mail, never this one's."""
    port = free_port("127.0.0.2")
    p = instance(make_postern, users, mailertable=(
        "secure.example   relay:[127.0.0.2]:%d tls=encrypt\n"
        "plain.example    relay:[127.0.0.2]:%d\n" % (port, port)))
    peer = peer_factory(port)
    s = session(p)
    assert s.rcpt("a@secure.example")[0] == 250
    assert s.rcpt("b@plain.example")[0] == 250
    s.data("Subject: tls\r\n\r\npolicy\r\n")
    s.quit()
    wait_for(lambda: peer.messages, what="plain delivered")
    assert peer.messages[0][1] == ["b@plain.example"]
    wait_for(lambda: "TLS is required" in p.log(), what="secure deferred")
    r = p.cli("queue")
    assert "a@secure.example" in r.stdout and "b@plain" not in r.stdout
    assert len(peer.messages) == 1


def test_reload_reads_recompiled_map(make_postern, users):
    p = instance(make_postern, users)
    etc = os.path.join(p.base, "etc")
    s = session(p)
    code, _ = s.rcpt("new@virt2.example")
    assert code == 550
    s.quit()
    before = {pid for pid, _, _ in p.children("cleanup") +
              p.children("smtpd")}
    with open(os.path.join(etc, "virtusertable"), "a") as f:
        f.write("new@virt2.example  %s\n" % users["carol"])
    p.cli("map", os.path.join(etc, "virtusertable"))
    p.cli("reload")

    def accepted():
        s = session(p)
        code, _ = s.rcpt("new@virt2.example")
        s.quit()
        return code == 250
    wait_for(accepted, what="the new entry at RCPT")
    wait_for(lambda: not before & {pid for pid, _, _ in
                                   p.children("cleanup") +
                                   p.children("smtpd")},
             what="the old smtpd and cleanup gone")
    s = session(p)
    assert s.rcpt("new@virt2.example")[0] == 250
    s.data("Subject: new\r\n\r\nafter reload\r\n")
    s.quit()
    p.wait_mbox(users["carol"], b"after reload")


def test_bad_map_lines_name_file_and_line(make_postern, users):
    p = instance(make_postern, users)
    etc = os.path.join(p.base, "etc")
    vt, mt = os.path.join(etc, "virtusertable"), os.path.join(etc,
                                                                "mailertable")
    with open(vt, "a") as f:
        f.write("notarget@virt.example\n"
                "pct@virt.example  %2@other.example\n"
                "err@virt.example  error:5.1.1:450 wrong class\n")
    with open(mt, "w") as f:
        f.write("# routes\nok.example relay:[127.0.0.2]:25\n"
                "port.example relay:[127.0.0.2]:70000\n"
                "nohost.example relay:\n"
                "err.example error:bogus text\n")
    old = os.stat(vt + ".cdb").st_mtime_ns
    os.utime(vt + ".cdb", ns=(old - 2 * 10**9, old - 2 * 10**9))
    old = os.stat(vt + ".cdb").st_mtime_ns
    r = p.cli("map", vt, check=False)
    assert r.returncode == 1
    n = len(VIRTUAL.splitlines())
    assert "%s:%d: missing value" % (vt, n + 1) in r.stderr
    assert "%s:%d: \"%%2@other.example\": only %%1" % (vt, n + 2) in r.stderr
    assert "%s:%d: bad error: syntax" % (vt, n + 3) in r.stderr
    assert os.stat(vt + ".cdb").st_mtime_ns == old    # the old one stays
    r = p.cli("map", mt, check=False)
    assert r.returncode == 1
    assert "%s:3: bad port" % mt in r.stderr
    assert "%s:4: relay: needs a host" % mt in r.stderr
    assert "%s:5: bad error: syntax" % mt in r.stderr
    r = p.cli("check", check=False)
    assert r.returncode == 1
    # the stale-source warning, as for the other maps
    assert "%s.cdb is older than %s; run postern map" % (vt, vt) in r.stderr
    for line in ("%s:%d: missing value" % (vt, n + 1), "%s:3: bad port" % mt,
                 "%s:5: bad error: syntax" % mt):
        assert line in r.stderr, r.stderr


def test_route_and_sendmail_bv(make_postern, users):
    p = instance(make_postern, users, mailertable=(
        "dest.example     relay:[127.0.0.2]:2526 tls=verify\n"
        "err.example      error:5.7.1:550 We do not deliver there\n"))
    r = p.cli("route", "Info@virt.example", "u@x.dest.example",
              "u@dest.example", "bad@virt.example")
    out = r.stdout
    assert ("virtual_map    info@virt.example: <Info@virt.example> -> "
            "<%s@mx.test.example>" % users["alice"]) in out
    assert "transport_map  dest.example: relay:[127.0.0.2]:2526 tls=verify" \
        in out
    assert ("=> transport remote, next hop [127.0.0.2]:2526, tls verify, "
            "address <u@dest.example>") in out
    assert "=> error 550 5.1.1 No such person here" in out
    # sendmail -bv: the same decision, Sendmail's words and exit codes
    r = sendmail(p, ["-bv", "info@virt.example", "u@dest.example"], "")
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.splitlines() == [
        "info@virt.example... deliverable: mailer local, user %s"
        % users["alice"],
        "u@dest.example... deliverable: mailer remote, host "
        "[127.0.0.2]:2526, user u@dest.example, tls verify"]
    r = sendmail(p, ["-bv", "bad@virt.example"], "")
    assert (r.returncode, r.stdout) == (
        67, "bad@virt.example... 550 5.1.1 No such person here\n")
    r = sendmail(p, ["-bv", "nosuchuser12@mx.test.example"], "")
    assert r.returncode == 67 and "User unknown" in r.stdout
    r = sendmail(p, ["-bv", "u@err.example"], "")
    assert (r.returncode, r.stdout) == (
        69, "u@err.example... 550 5.7.1 We do not deliver there\n")
    r = sendmail(p, ["-bv"], "")
    assert r.returncode == 64
