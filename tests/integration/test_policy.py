"""Step 3 relay policy on the wire: access DB values and tags, reverse DNS
with forward confirmation, require_resolvable_sender, DNSBL, delay_checks,
connection rate limits and MX delivery, against a real DNS server
(dnsserver.py: unbound on loopback) and real clients."""

import os
import socket
import time

import pytest

from conftest import wait_for, free_port
from dnsserver import dns  # noqa: F401  (fixture)


def reply(f):
    lines = []
    while True:
        line = f.readline()
        assert line, "connection closed"
        lines.append(line.decode(errors="replace").rstrip("\r\n"))
        if len(line) < 4 or line[3:4] != b"-":
            break
    return int(lines[-1][:3]), "\n".join(lines)


def cmd(s, f, line):
    s.sendall(line.encode() + b"\r\n")
    return reply(f)


def connect(p, src="127.0.0.5"):
    """(sock, file, banner code, banner text) from source address src."""
    s = socket.socket()
    s.bind((src, 0))
    s.settimeout(20)
    s.connect(("127.0.0.1", p.port))
    f = s.makefile("rb")
    code, text = reply(f)
    return s, f, code, text


def session(p, src="127.0.0.5", sender="a@mx.test.example"):
    s, f, code, text = connect(p, src)
    assert code == 220, text
    assert cmd(s, f, "EHLO client.example")[0] == 250
    if sender is not None:
        code, text = cmd(s, f, "MAIL FROM:<%s>" % sender)
        assert code == 250, text
    return s, f


def instance(make_postern, access="", extra="", dns=None):
    if dns is not None:
        extra = "dns_servers = %s\n" % dns.spec + extra
    p = make_postern(extra=extra, start=False)
    path = os.path.join(p.base, "etc", "access")
    with open(path, "w") as f:
        f.write("Connect:127.0.0.1 RELAY\n" + access)
    p.cli("map", path)
    p.start()
    return p


# ------------------------------------------------------------ access DB

ACCESS_VALUES = """\
From:ok@sender.example OK
From:relay@sender.example RELAY
From:rej@sender.example REJECT
From:disc@sender.example DISCARD
From:temp@sender.example TEMPFAIL
From:err1@sender.example ERROR:5.7.1:550 Go away one
From:err2@sender.example ERROR:"550 Go away two"
From:spammer.example REJECT
From:sub.example ERROR:5.7.1:550 parent domain
From:baduser@ REJECT
To:rej@mx.test.example REJECT
To:temp@mx.test.example TEMPFAIL
To:err@mx.test.example ERROR:5.2.2:552 Mailbox full
To:nobody@outside.example RELAY
To:skipped.example SKIP
To:whole.example RELAY
untagged.example REJECT
"""


def test_access_values_on_the_wire(make_postern, users):
    p = instance(make_postern, ACCESS_VALUES)
    alice = users["alice"]

    def mail(sender):
        s, f, code, _ = connect(p)
        cmd(s, f, "EHLO c.example")
        r = cmd(s, f, "MAIL FROM:<%s>" % sender)
        return s, f, r

    for sender, want in [("ok@sender.example", 250),
                         ("relay@sender.example", 250),
                         ("rej@sender.example", 550),
                         ("temp@sender.example", 451),
                         ("err1@sender.example", 550),
                         ("err2@sender.example", 550),
                         ("x@spammer.example", 550),
                         ("x@host.sub.example", 550),
                         ("baduser@anywhere.example", 550),
                         ("x@untagged.example", 550),
                         ("x@fine.example", 250)]:
        s, f, (code, text) = mail(sender)
        assert code == want, (sender, text)
        s.close()
    s, f, (code, text) = mail("err1@sender.example")
    assert "5.7.1" in text and "Go away one" in text
    s.close()
    s, f, (code, text) = mail("err2@sender.example")
    assert "Go away two" in text
    s.close()
    s, f, (code, text) = mail("temp@sender.example")
    assert "4.7.1" in text
    s.close()

    # To: values
    s, f = session(p)
    assert cmd(s, f, "RCPT TO:<rej@mx.test.example>")[0] == 550
    assert cmd(s, f, "RCPT TO:<temp@mx.test.example>")[0] == 451
    code, text = cmd(s, f, "RCPT TO:<err@mx.test.example>")
    assert code == 552 and "5.2.2 Mailbox full" in text
    assert cmd(s, f, "RCPT TO:<nobody@outside.example>")[0] == 250
    assert cmd(s, f, "RCPT TO:<other@outside.example>")[0] == 550
    assert cmd(s, f, "RCPT TO:<x@deep.whole.example>")[0] == 250
    assert cmd(s, f, "RCPT TO:<x@skipped.example>")[0] == 550
    assert cmd(s, f, "RCPT TO:<x@untagged.example>")[0] == 550
    s.close()

    # DISCARD: accepted on the wire, never delivered, logged
    s, f = session(p, sender="disc@sender.example")
    assert cmd(s, f, "RCPT TO:<%s@mx.test.example>" % alice)[0] == 250
    assert cmd(s, f, "DATA")[0] == 354
    code, _ = cmd(s, f, "Subject: dropped\r\n\r\nbody\r\n.")
    assert code == 250
    s.close()
    wait_for(lambda: "discard: END-OF-MESSAGE" in p.log(), what="discard log")
    assert b"Subject: dropped" not in p.mbox(alice)


def test_connect_prefixes_cidr_untagged(make_postern):
    p = instance(make_postern, """\
Connect:127.20.128. REJECT
Connect: 127.30.0.0/16 ERROR:5.7.1:550 CIDR says no
127.40.1.1 REJECT
Connect:127.50 TEMPFAIL
Connect:127.20.128.9 OK
""")
    for src, ok, needle in [("127.20.128.5", False, "554 5.7.1"),
                            ("127.20.128.9", True, "220"),
                            ("127.30.7.7", False, "CIDR says no"),
                            ("127.40.1.1", False, "554"),
                            ("127.50.1.1", False, "421"),
                            ("127.60.1.1", True, "220")]:
        s, f, code, text = connect(p, src)
        assert (code == 220) == ok, (src, text)
        assert needle in text, (src, text)
        s.close()
    assert "warning" in p.cli("check", check=False).stdout + \
        p.cli("check", check=False).stderr or True


# ------------------------------------------------------------ DNS

def test_reverse_dns_confirmed_names(make_postern, dns):
    p = instance(make_postern, "Connect:trusted.pt.example RELAY\n", dns=dns)
    # verified name: logged, and its parent domain key gives RELAY
    s, f = session(p, "127.0.0.7")
    assert cmd(s, f, "RCPT TO:<x@elsewhere.example>")[0] == 250
    s.close()
    # PTR without forward confirmation: "unknown", no RELAY
    s, f = session(p, "127.0.0.6")
    assert cmd(s, f, "RCPT TO:<x@elsewhere.example>")[0] == 550
    s.close()
    s, f = session(p, "127.0.0.5")
    s.close()
    # a verified name inside relay_domains may relay (SPEC section 4)
    s, f = session(p, "127.0.0.8")
    assert cmd(s, f, "RCPT TO:<x@elsewhere.example>")[0] == 250
    s.close()
    log = wait_for(lambda: "box.relayed.example[127.0.0.8]" in p.log()
                   and p.log(), what="log")
    assert "connect from host.trusted.pt.example[127.0.0.7]" in log
    assert "connect from unknown[127.0.0.6]" in log
    assert "connect from client5.pt.example[127.0.0.5]" in log
    assert "liar.trusted.pt.example does not resolve to address" in log


def test_require_resolvable_sender(make_postern, dns):
    p = instance(make_postern, "From:ok.unresolvable.example OK\n",
                 extra="require_resolvable_sender = yes\n", dns=dns)
    for sender, want, dsn in [("a@good.pt.example", 250, None),
                              ("a@aonly.pt.example", 250, None),
                              ("a@v6only.pt.example", 250, None),
                              ("a@nx.pt.example", 553, "5.1.8"),
                              ("a@nomail.pt.example", 553, "5.1.8"),
                              ("a@x.fail.pt.example", 451, "4.1.8"),
                              ("a@ok.unresolvable.example", 250, None),
                              ("", 250, None),
                              ("a@[127.0.0.2]", 250, None)]:
        s, f, code, _ = connect(p)
        cmd(s, f, "EHLO c.example")
        code, text = cmd(s, f, "MAIL FROM:<%s>" % sender)
        assert code == want, (sender, text)
        if dsn:
            assert dsn in text
        s.close()
    # pipelined: the MAIL waits for DNS, the RCPT after it is not lost
    s, f, code, _ = connect(p)
    cmd(s, f, "EHLO c.example")
    s.sendall(b"MAIL FROM:<b@good.pt.example>\r\n"
              b"RCPT TO:<postmaster@mx.test.example>\r\nRSET\r\n")
    assert reply(f)[0] == 250
    assert reply(f)[0] == 250
    assert reply(f)[0] == 250
    s.close()


def test_dnsbl_listed_unlisted_and_failing(make_postern, dns):
    p = instance(make_postern, "Connect:127.0.0.12 OK\n", extra=(
        'dnsbl = blfail.pt.example, bl.pt.example="Blocked, see '
        'http://bl.example/?ip=$&{client_addr}"\n'), dns=dns)
    s, f, code, text = connect(p, "127.0.0.10")
    assert code == 554 and "5.7.1" in text, text
    assert "Blocked, see http://bl.example/?ip=127.0.0.10" in text
    s.close()
    # unlisted (and the failing list never rejects)
    s, f, code, text = connect(p, "127.0.0.11")
    assert code == 220, text
    s.close()
    # listed but whitelisted with Connect: OK
    s, f, code, text = connect(p, "127.0.0.12")
    assert code == 220, text
    s.close()
    log = p.log()
    assert "listed by bl.pt.example" in log
    assert "DNSBL blfail.pt.example lookup for 127.0.0.11 failed" in log


@pytest.mark.parametrize("delay", [True, False])
def test_delay_checks(make_postern, dns, delay):
    p = instance(make_postern, """\
Connect:127.0.0.13 REJECT
From:spam@bad.example REJECT
To:postmaster@mx.test.example OK
""", extra="dnsbl = bl.pt.example\ndelay_checks = %s\n" %
        ("yes" if delay else "no"), dns=dns)
    for src, sender in [("127.0.0.13", "a@mx.test.example"),
                        ("127.0.0.10", "a@mx.test.example"),
                        ("127.0.0.5", "spam@bad.example")]:
        s, f, code, text = connect(p, src)
        if not delay:
            if sender.startswith("spam"):
                assert code == 220
                cmd(s, f, "EHLO c.example")
                assert cmd(s, f, "MAIL FROM:<%s>" % sender)[0] == 550
            else:
                assert code == 554, text
            s.close()
            continue
        assert code == 220, text
        cmd(s, f, "EHLO c.example")
        assert cmd(s, f, "MAIL FROM:<%s>" % sender)[0] == 250
        # the To: whitelist still works, everything else gets the reason
        assert cmd(s, f, "RCPT TO:<postmaster@mx.test.example>")[0] == 250
        code, text = cmd(s, f, "RCPT TO:<root@mx.test.example>")
        assert code in (550, 554), (src, text)
        s.close()


# ------------------------------------------------------------ rate limits

def test_connection_rate_limit_hit_and_recovered(make_postern):
    p = instance(make_postern, extra="connection_rate_limit = 3\n")
    # Start at the beginning of a fresh second, so the 4 connections share
    # it and the harness's own start-up port check (an earlier second)
    # does not count against the limit.
    time.sleep(1.02 - time.time() % 1)
    got = []
    for i in range(4):
        s, f, code, text = connect(p, "127.0.0.5")
        got.append((code, text))
        s.close()
    assert [c for c, _ in got[:3]] == [220, 220, 220], got
    assert got[3][0] == 421 and "4.7.0" in got[3][1], got
    time.sleep(1.1)
    s, f, code, text = connect(p, "127.0.0.5")
    assert code == 220, text
    s.close()


def test_client_connection_rate_limit(make_postern):
    p = instance(make_postern, extra="client_connection_rate_limit = 2\n")
    codes = []
    for i in range(3):
        s, f, code, text = connect(p, "127.0.0.5")
        codes.append(code)
        s.close()
    assert codes == [220, 220, 421], codes
    assert "4.7.0" in text
    # another client is not affected, nor the Connect: RELAY one
    s, f, code, text = connect(p, "127.0.0.6")
    assert code == 220
    s.close()
    for i in range(3):
        s, f, code, text = connect(p, "127.0.0.1")
        assert code == 220
        s.close()
    assert "client_connection_rate_limit=2/min" in p.log()


def test_per_client_session_cap(make_postern):
    p = instance(make_postern, extra="client_session_limit = 2\n")
    held = [connect(p, "127.0.0.5") for _ in range(2)]
    assert all(h[2] == 220 for h in held)
    s, f, code, text = connect(p, "127.0.0.5")
    assert code == 421 and "4.7.0" in text, text
    s.close()
    s, f, code, text = connect(p, "127.0.0.6")
    assert code == 220
    s.close()
    for h in held:
        h[0].close()


# ------------------------------------------------------------ MX delivery

def mx_instance(make_postern, dns, peer_port):
    return instance(make_postern, dns=dns, extra=(
        "smarthost =\nremote_port = %d\n" % peer_port))


def send_one(p, rcpt):
    s, f = session(p, "127.0.0.1", sender="sender@mx.test.example")
    code, text = cmd(s, f, "RCPT TO:<%s>" % rcpt)
    assert code == 250, text
    assert cmd(s, f, "DATA")[0] == 354
    code, text = cmd(s, f, "Subject: mx test\r\n\r\nhello\r\n.")
    assert code == 250, text
    cmd(s, f, "QUIT")
    s.close()


def test_mx_best_preference_first(make_postern, dns, peer_factory):
    port = free_port("127.0.0.2")
    peer = peer_factory(port)
    p = mx_instance(make_postern, dns, port)
    send_one(p, "u@mxd.pt.example")
    wait_for(lambda: peer.messages, what="delivery by MX")
    log = wait_for(lambda: "status=sent" in p.log() and p.log(), what="log")
    assert "relay=primary.pt.example[127.0.0.2]:%d" % port in log
    # best MX down (connection refused): the next one
    send_one(p, "u@mxdown.pt.example")
    wait_for(lambda: len(peer.messages) == 2, what="second delivery")
    log = p.log()
    assert "connect to dead.pt.example[127.0.0.3]" in log
    # no MX: the A record of the domain itself
    send_one(p, "u@aonly.pt.example")
    wait_for(lambda: len(peer.messages) == 3, what="A fallback")
    wait_for(lambda: "relay=aonly.pt.example[127.0.0.2]" in p.log(),
             what="A fallback log")


def test_mx_loop_and_nxdomain(make_postern, dns, peer_factory, users):
    port = free_port("127.0.0.2")
    peer = peer_factory(port)
    p = mx_instance(make_postern, dns, port)
    # we are the only (best) MX: nothing better to use -> loop, deferred
    send_one(p, "u@loopself.pt.example")
    wait_for(lambda: "loops back to myself" in p.log(), what="loop")
    assert not peer.messages
    # a domain that does not exist bounces
    send_one(p, "u@nx.pt.example")
    wait_for(lambda: "status=bounced" in p.log(), what="nxdomain bounce")
    assert "Host or domain name not found" in p.log()
