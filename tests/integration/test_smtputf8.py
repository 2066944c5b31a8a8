"""SMTPUTF8 and internationalised addresses (RFC 6531-6533) against the
real daemons: the EHLO keyword on every listener, the MAIL parameter,
UTF-8 addresses accepted only with it and validated (RFC 3629), relaying
only to a next hop that offers SMTPUTF8 (else a 5.6.7 bounce, RFC 6531
section 3.2), IDN domains looked up by their A-label in DNS, the access
DB, local_domains, transport_map and aliases matching either form."""

import os
import socket

import pytest

from conftest import free_port, wait_for
from dnsserver import DNSServer, UNBOUND

CAFE_U = "caf\u00e9.example"          # café.example
CAFE_A = "xn--caf-dma.example"
BUCH_U = "b\u00fccher.example"        # bücher.example
BUCH_A = "xn--bcher-kva.example"
JOSE = "jos\u00e9"


class Raw:
    """An SMTP client on a raw socket: bytes out exactly as given."""

    def __init__(self, port, host="127.0.0.1"):
        self.s = socket.create_connection((host, port), timeout=15)
        self.f = self.s.makefile("rb")
        self.greeting = self.reply()

    def reply(self):
        lines = []
        while True:
            line = self.f.readline()
            if not line:
                raise EOFError("connection closed")
            lines.append(line.rstrip(b"\r\n"))
            if line[3:4] != b"-":
                break
        return int(lines[-1][:3]), b"\n".join(lines).decode("utf-8",
                                                           "replace")

    def cmd(self, line):
        if isinstance(line, str):
            line = line.encode("utf-8")
        self.s.sendall(line + b"\r\n")
        return self.reply()

    def data(self, text):
        code, _ = self.cmd("DATA")
        assert code == 354
        if isinstance(text, str):
            text = text.encode("utf-8")
        self.s.sendall(text.replace(b"\n", b"\r\n") + b"\r\n.\r\n")
        return self.reply()

    def close(self):
        try:
            self.cmd("QUIT")
        except OSError:
            pass
        self.s.close()


def nothing_queued(p):
    return not any(p.queue_files(d) for d in
                   ("incoming", "active", "deferred", "hold"))


def send(p, sender, rcpts, body, utf8=True, port=None):
    c = Raw(port or p.port)
    assert c.cmd("EHLO client.example")[0] == 250
    code, text = c.cmd("MAIL FROM:<%s>%s" % (sender,
                                            " SMTPUTF8" if utf8 else ""))
    assert code == 250, text
    for r in rcpts:
        code, text = c.cmd("RCPT TO:<%s>" % r)
        assert code == 250, text
    code, text = c.data(body)
    assert code == 250, text
    c.close()


# ---- smtpd --------------------------------------------------------------

def test_ehlo_advertises_smtputf8_on_every_listener(postern):
    for port in (postern.port, postern.sub_port):
        c = Raw(port)
        code, text = c.cmd("EHLO client.example")
        assert code == 250
        assert "250-SMTPUTF8" in text or "250 SMTPUTF8" in text
        c.close()


def test_smtputf8_parameter_takes_no_value(postern):
    c = Raw(postern.port)
    c.cmd("EHLO client.example")
    code, text = c.cmd("MAIL FROM:<a@test.example> SMTPUTF8=yes")
    assert code == 501 and "5.5.4" in text
    assert c.cmd("MAIL FROM:<a@test.example> SMTPUTF8")[0] == 250
    # the RCPT command has no such parameter
    code, text = c.cmd("RCPT TO:<%s@test.example> SMTPUTF8" %
                       postern.users["alice"])
    assert code == 555
    c.close()


def test_utf8_address_needs_smtputf8(postern):
    c = Raw(postern.port)
    c.cmd("EHLO client.example")
    code, text = c.cmd("MAIL FROM:<%s@%s>" % (JOSE, CAFE_U))
    assert code == 553 and "5.6.7" in text
    assert c.cmd("MAIL FROM:<a@test.example>")[0] == 250
    code, text = c.cmd("RCPT TO:<%s@test.example>" % JOSE)
    assert code == 553 and "5.6.7" in text
    # an ASCII recipient still goes; nothing of the refused one is kept
    assert c.cmd("RCPT TO:<%s@test.example>" %
                 postern.users["alice"])[0] == 250
    assert c.data("Subject: ascii\n\nplain\n")[0] == 250
    c.close()
    postern.wait_mbox(postern.users["alice"], b"Subject: ascii")
    assert JOSE.encode() not in postern.mbox(postern.users["alice"])


def test_bad_utf8_on_the_wire(postern):
    c = Raw(postern.port)
    c.cmd("EHLO client.example")
    bad_from = [b"MAIL FROM:<jos\xc0\xaf@test.example> SMTPUTF8",  # overlong
                b"MAIL FROM:<jos\xc3@test.example> SMTPUTF8",      # truncated
                b"MAIL FROM:<a@caf\xed\xa0\x80.example> SMTPUTF8",  # surrogate
                b"MAIL FROM:<a\xc2\x85b@test.example> SMTPUTF8",    # C1
                b"MAIL FROM:<a@\xff.example> SMTPUTF8"]
    for line in bad_from:
        code, text = c.cmd(line)
        assert (code, text[4:9]) == (553, "5.1.7"), (line, text)
    assert c.cmd("MAIL FROM:<%s@test.example> SMTPUTF8" % JOSE)[0] == 250
    code, text = c.cmd(b"RCPT TO:<x@\xf4\x90\x80\x80.example>")  # > U+10FFFF
    assert (code, text[4:9]) == (553, "5.1.3")
    code, text = c.cmd(b"DATA")
    assert code == 554          # no valid recipient: nothing half-queued
    c.close()
    assert nothing_queued(postern)
    assert "seccomp" not in postern.log()


def test_utf8_alias_delivers_to_local_user(make_postern):
    """Debian's useradd refuses a non-ASCII login: an alias with a UTF-8
    key is how josé@ reaches a local user's mbox."""
    postern = make_postern(start=False)
    alice = postern.users["alice"]
    with open(os.path.join(postern.base, "etc", "aliases"), "a") as f:
        f.write("%s: %s\n" % (JOSE.upper(), alice))
    postern.cli("aliases")
    postern.start()
    send(postern, "%s@%s" % (JOSE, CAFE_U), ["%s@test.example" % JOSE],
         "From: %s@%s\nSubject: h\u00e9llo\n\nbonjour\n" % (JOSE, CAFE_U))
    box = postern.wait_mbox(alice, "Subject: h\u00e9llo".encode())
    assert ("Return-Path: <%s@%s>" % (JOSE, CAFE_U)).encode() in box
    assert b"with UTF8SMTP" in box      # RFC 6531 section 3.7.3
    # without SMTPUTF8 the same recipient is refused
    c = Raw(postern.port)
    c.cmd("EHLO client.example")
    c.cmd("MAIL FROM:<a@test.example>")
    assert c.cmd("RCPT TO:<%s@test.example>" % JOSE)[0] == 553
    c.close()


# ---- remote: next hops with and without SMTPUTF8 -----------------------

def test_relay_to_next_hop_with_smtputf8(postern, peer_factory):
    peer = peer_factory(postern.smarthost_port, smtputf8=True)
    rcpt = "%s@%s" % (JOSE, BUCH_U)
    send(postern, "%s@%s" % (JOSE, CAFE_U), [rcpt],
         "From: %s@%s\nSubject: \u00fcber\n\nbody \u00e9\n" % (JOSE, CAFE_U))
    wait_for(lambda: peer.messages, what="the SMTPUTF8 peer got it")
    mail_from, rcpts, content = peer.messages[0]
    opts = peer.mail_options[0]
    assert mail_from == "%s@%s" % (JOSE, CAFE_U)
    assert rcpts == [rcpt]
    assert "SMTPUTF8" in [o.upper() for o in opts]
    assert "Subject: \u00fcber".encode() in content
    wait_for(lambda: nothing_queued(postern), what="queue empty")


def test_next_hop_without_smtputf8_bounces_5_6_7(postern, peer_factory):
    alice = postern.users["alice"]
    peer = peer_factory(postern.smarthost_port, smtputf8=False)
    # a UTF-8 recipient, an ASCII sender: the sender gets the bounce
    send(postern, "%s@test.example" % alice, ["%s@%s" % (JOSE, BUCH_U)],
         "Subject: to a UTF-8 mailbox\n\nhello\n")
    box = postern.wait_mbox(alice, b"Status: 5.6.7")
    assert b"does not offer it" in box
    # UTF-8 in a header of an SMTPUTF8 message: bounced the same way
    send(postern, "%s@test.example" % alice, ["plain@remote.example"],
         "Subject: r\u00e9sum\u00e9\n\nhello\n")
    wait_for(lambda: postern.mbox_count(alice) >= 2, what="second bounce")
    # SMTPUTF8 said, but nothing 8-bit anywhere: delivered as it is
    send(postern, "%s@test.example" % alice, ["ascii@remote.example"],
         "Subject: ascii only\n\nhello\n")
    wait_for(lambda: peer.messages, what="the ASCII message delivered")
    assert len(peer.messages) == 1
    assert peer.messages[0][1] == ["ascii@remote.example"]
    wait_for(lambda: nothing_queued(postern), what="queue empty")
    assert postern.mbox(alice).count(b"Status: 5.6.7") == 2


# ---- IDN: DNS, access DB, local_domains, transport_map -----------------

IDN_ZONE = """
  local-zone: "{a}." static
  local-data: "{a}. MX 10 mx.{a}."
  local-data: "mx.{a}. A 127.0.0.2"
  local-zone: "{b}." static
""".format(a=CAFE_A, b=BUCH_A)


@pytest.fixture
def idn_dns():
    if not os.path.exists(UNBOUND):
        pytest.skip("unbound not installed")
    d = DNSServer(extra=IDN_ZONE)
    yield d
    d.stop()


def test_idn_domain_looked_up_by_a_label(make_postern, peer_factory,
                                         idn_dns):
    """smtpd (the sender domain's check) and remote (MX, A) ask DNS for
    the A-label; a domain that has no A-label form is refused."""
    port = free_port("127.0.0.2")
    p = make_postern(extra="dns_servers = %s\nsmarthost =\nremote_port = %d\n"
                     "require_resolvable_sender = yes\n"
                     % (idn_dns.spec, port))
    peer = peer_factory(port, smtputf8=True)
    send(p, "%s@%s" % (JOSE, CAFE_U), ["someone@%s" % CAFE_U],
         "Subject: idn\n\nto a U-label domain\n")
    wait_for(lambda: peer.messages, what="delivered by the A-label's MX")
    assert peer.messages[0][1] == ["someone@%s" % CAFE_U]
    assert "relay=mx.%s[127.0.0.2]" % CAFE_A in p.log()
    c = Raw(p.port)
    c.cmd("EHLO client.example")
    code, text = c.cmd("MAIL FROM:<a@%s> SMTPUTF8" % BUCH_U)  # NXDOMAIN
    assert (code, text[4:9]) == (553, "5.1.8"), text
    c.close()
    assert "seccomp" not in p.log()


def test_access_db_matches_either_form(make_postern):
    p = make_postern(start=False)
    with open(os.path.join(p.base, "etc", "access"), "a") as f:
        f.write("From:%s REJECT\nFrom:%s REJECT\n" % (CAFE_U, BUCH_A))
    p.cli("map", os.path.join(p.base, "etc", "access"))
    p.start()
    c = Raw(p.port)
    c.cmd("EHLO client.example")
    for sender, utf8 in (("a@" + CAFE_A, ""), ("a@" + CAFE_U, " SMTPUTF8"),
                         ("a@" + BUCH_U, " SMTPUTF8"), ("a@" + BUCH_A, ""),
                         ("a@sub." + CAFE_A, "")):
        code, text = c.cmd("MAIL FROM:<%s>%s" % (sender, utf8))
        assert code == 550, (sender, text)
    assert c.cmd("MAIL FROM:<a@other.example> SMTPUTF8")[0] == 250
    c.close()


def test_local_domains_and_maps_either_form(make_postern, peer_factory):
    """local_domains holds the A-label, virtual_map a U-label key,
    transport_map a U-label key: mail in the other form finds each."""
    port = free_port("127.0.0.2")
    p = make_postern(start=False)
    etc = os.path.join(p.base, "etc")
    alice, bob = p.users["alice"], p.users["bob"]
    with open(p.conf) as f:
        text = f.read()
    with open(p.conf, "w") as f:
        f.write(text.replace("min_backoff", "transport_map = %s/transport\n"
                             "virtual_map = %s/virtual\nmin_backoff"
                             % (etc, etc), 1))
    with open(os.path.join(etc, "local-host-names"), "a") as f:
        f.write(CAFE_A + "\n")
    with open(os.path.join(etc, "transport"), "w") as f:
        f.write("%s relay:[127.0.0.2]:%d\n" % (BUCH_U, port))
    with open(os.path.join(etc, "virtual"), "w") as f:
        f.write("info@%s %s\n" % (CAFE_U.upper(), bob))
    p.cli("map", os.path.join(etc, "transport"))
    p.cli("map", os.path.join(etc, "virtual"))
    p.start()
    peer = peer_factory(port, smtputf8=True)
    send(p, "s@test.example", ["%s@%s" % (alice, CAFE_U)],
         "Subject: local by U-label\n\nx\n")
    p.wait_mbox(alice, b"Subject: local by U-label")
    send(p, "s@test.example", ["info@" + CAFE_A], "Subject: virt\n\nx\n",
         utf8=False)
    p.wait_mbox(bob, b"Subject: virt")
    send(p, "s@test.example", ["x@" + BUCH_A], "Subject: tm\n\nx\n",
         utf8=False)
    wait_for(lambda: peer.messages, what="transport_map by the A-label")
    assert peer.messages[0][1] == ["x@" + BUCH_A]


def test_forwarded_message_keeps_its_smtputf8_need(make_postern,
                                                   peer_factory):
    """An alias to a remote address: the copy local sends back through
    cleanup keeps the SMTPUTF8 flag, so its UTF-8 header still needs a
    next hop with SMTPUTF8 (bounced 5.6.7 here, never downgraded)."""
    p = make_postern(start=False)
    alice = p.users["alice"]
    with open(os.path.join(p.base, "etc", "aliases"), "a") as f:
        f.write("fwd8: someone@remote.example\n")
    p.cli("aliases")
    p.start()
    peer = peer_factory(p.smarthost_port, smtputf8=False)
    send(p, "%s@test.example" % alice, ["fwd8@test.example"],
         "Subject: na\u00efve\n\nforwarded\n")
    box = p.wait_mbox(alice, b"Status: 5.6.7")
    assert b"someone@remote.example" in box
    assert not peer.messages
