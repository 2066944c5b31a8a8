"""Open-relay tricks (SPEC section 4): from a client with no Connect: entry,
none of these may be accepted for a non-local, non-relay destination.
Local domains: mx.test.example, test.example, localhost; relay_domains:
relayed.example; the client 127.0.0.5 has no access entry."""

import socket

import pytest

from test_policy import connect, cmd, reply, instance

TRICKS = [
    ("percent hack", "user%elsewhere.example@mx.test.example"),
    ("percent hack, relay domain", "user%elsewhere.example@relayed.example"),
    ("percent without domain", "user%elsewhere.example"),
    ("quoted local part", '"user@elsewhere.example"@mx.test.example'),
    ("quoted percent", '"user%elsewhere.example"@mx.test.example'),
    ("bang path", "elsewhere.example!user@mx.test.example"),
    ("bang path, no domain", "elsewhere.example!user"),
    ("source route", "@mx.test.example:user@elsewhere.example"),
    ("source route list", "@mx.test.example,@localhost:user@elsewhere.example"),
    ("trailing dot", "user@elsewhere.example."),
    ("mixed case", "user@ElseWhere.EXAMPLE"),
    ("IPv4 literal", "user@[127.0.0.2]"),
    ("IPv4 literal of ourselves", "user@[127.0.0.1]"),
    ("IPv6 literal", "user@[IPv6:::1]"),
    ("postmaster elsewhere", "postmaster@elsewhere.example"),
    ("double at", "user@elsewhere.example@mx.test.example"),
    ("relay domain as a suffix", "user@relayed.example.evil.example"),
    ("relay domain without dot boundary", "user@evilrelayed.example"),
    ("local domain as a prefix", "user@mx.test.example.evil.example"),
    ("localhost as a prefix", "user@localhost.evil.example"),
    ("percent after a local user", "postmaster%elsewhere.example@localhost"),
    ("escaped at", "user\\@elsewhere.example@mx.test.example"),
    ("spaces inside the brackets", " <user@elsewhere.example> "),
]




@pytest.fixture
def p(make_postern):
    return instance(make_postern, "")


@pytest.mark.parametrize("what,rcpt", TRICKS, ids=[t[0] for t in TRICKS])
def test_relay_trick_refused(p, what, rcpt):
    s, f, code, text = connect(p, "127.0.0.5")
    assert code == 220
    cmd(s, f, "EHLO mx.test.example")      # claiming our own name: no help
    assert cmd(s, f, "MAIL FROM:<postmaster@mx.test.example>")[0] == 250
    if rcpt.startswith(" "):
        code, text = cmd(s, f, "RCPT TO:" + rcpt)
    else:
        code, text = cmd(s, f, "RCPT TO:<%s>" % rcpt)
    assert code >= 500, (what, rcpt, text)
    # and a DATA after it has nothing to deliver
    assert cmd(s, f, "DATA")[0] >= 500
    s.close()


def test_embedded_crlf_and_nul(p):
    s, f, code, text = connect(p, "127.0.0.5")
    cmd(s, f, "EHLO c.example")
    assert cmd(s, f, "MAIL FROM:<a@mx.test.example>")[0] == 250
    # a CRLF inside the address splits it into two commands: the second
    # half is just garbage, the first a recipient that is refused
    s.sendall(b"RCPT TO:<user@elsewhere.example\r\n@mx.test.example>\r\n")
    assert reply(f)[0] >= 500
    assert reply(f)[0] >= 500
    # bare CR and NUL never get through
    s.sendall(b"RCPT TO:<user@elsewhere.example\r@mx.test.example>\r\n")
    assert reply(f)[0] >= 500
    s.sendall(b"RCPT TO:<user@elsewhere.example\0@mx.test.example>\r\n")
    assert reply(f)[0] >= 500
    assert cmd(s, f, "DATA")[0] >= 500
    s.close()


def test_controls_relay_allowed_only_by_policy(p):
    # the same client may relay to relay_domains and deliver locally
    s, f, code, text = connect(p, "127.0.0.5")
    cmd(s, f, "EHLO c.example")
    assert cmd(s, f, "MAIL FROM:<a@elsewhere.example>")[0] == 250
    assert cmd(s, f, "RCPT TO:<x@relayed.example>")[0] == 250
    assert cmd(s, f, "RCPT TO:<x@sub.relayed.example>")[0] == 250
    assert cmd(s, f, "RCPT TO:<postmaster>")[0] == 250
    assert cmd(s, f, "RCPT TO:<x@elsewhere.example>")[0] == 550
    # a new transaction does not inherit anything
    assert cmd(s, f, "RSET")[0] == 250
    assert cmd(s, f, "MAIL FROM:<a@mx.test.example>")[0] == 250
    assert cmd(s, f, "RCPT TO:<x@elsewhere.example>")[0] == 550
    s.close()
    # Connect: RELAY (127.0.0.1) is what opens relaying
    s, f, code, text = connect(p, "127.0.0.1")
    cmd(s, f, "EHLO c.example")
    assert cmd(s, f, "MAIL FROM:<a@elsewhere.example>")[0] == 250
    assert cmd(s, f, "RCPT TO:<x@elsewhere.example>")[0] == 250
    s.close()
