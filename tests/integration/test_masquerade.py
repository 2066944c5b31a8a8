"""
Step 3 items 1, 5 and 6 (cleanup's rewriting): masquerading as the seeds
configure it (seed 003: MASQUERADE_AS + masquerade_envelope + EXPOSED_USER
root; seeds 000/002: masquerade_envelope + masquerade_entire_domain with
MASQUERADE_AS left commented out), always_add_domain for the header
addresses of local submissions, and Sendmail's X-Authentication-Warning
for an untrusted `sendmail -f`. Mail is submitted over SMTP and with
sendmail, relayed to an aiosmtpd peer, and the bytes the peer got are
checked (MAIL FROM and headers).
"""
import smtplib

import pytest

from conftest import IS_ROOT, create_users, remove_users, wait_for
from test_spool import sendmail as spool_sendmail
from test_submission import PASSWORD, ctx, sub_factory  # noqa: F401

pytestmark = pytest.mark.skipif(not IS_ROOT, reason="needs root")

SEED003 = """# seed 003: MASQUERADE_AS(`dominio.com.uy')dnl
# FEATURE(masquerade_envelope)dnl  EXPOSED_USER(`root')dnl
masquerade_as = dominio.com.uy
masquerade_envelope = yes
exposed_users = root
"""

SEED000 = """# seeds 000/002: dnl MASQUERADE_AS(`midominio.com.mx')dnl (commented)
# FEATURE(masquerade_envelope)dnl FEATURE(masquerade_entire_domain)dnl
masquerade_envelope = yes
masquerade_entire_domain = yes
"""

RW_USERS = ["pstrwdan", "pstrweve"]	# this file's own logins


@pytest.fixture(scope="module")
def rw_users():
    created = create_users(RW_USERS)
    yield RW_USERS
    remove_users(created)


@pytest.fixture
def rw_user(rw_users):
    return rw_users[0]


def sendmail(p, args, data, user=None):
    r = spool_sendmail(p, args, data, user)
    assert r.returncode == 0, r
    return r


def smtp(p, sender, rcpts, msg):
    with smtplib.SMTP("127.0.0.1", p.port, timeout=30) as c:
        c.sendmail(sender, rcpts, msg)


def relayed(p, peer, n=1):
    """The n-th message the peer got: (MAIL FROM, RCPTs, header bytes)."""
    p.cli("queue", "flush", check=False)
    wait_for(lambda: len(peer.messages) >= n, timeout=30,
             what="relayed message %d" % n)
    frm, rcpts, data = peer.messages[n - 1]
    return frm, rcpts, data.split(b"\r\n\r\n", 1)[0] + b"\r\n"


def hdr(head, name):
    """Every value of header name (unfolded lines kept as they are)."""
    out = []
    for h in head.replace(b"\r\n\t", b"\n\t").replace(
            b"\r\n ", b"\n ").split(b"\r\n"):
        if h.lower().startswith(name.lower() + b":"):
            out.append(h[len(name) + 1:])
    return out


# --- seed 003: masquerade_as, masquerade_envelope, exposed_users -------

def test_seed003_sendmail_masquerades_headers_and_envelope(
        make_postern, users, peer_factory):
    p = make_postern(extra=SEED003)
    peer = peer_factory(p.smarthost_port)
    msg = (b"From: Alice Example <alice@mx.test.example>\n"
           b"Reply-To: alice\n"
           b"To: far@remote.example\n"
           b"Cc: carol@mx.test.example\n"
           b"Subject: seed 003\n\nbody\n")
    sendmail(p, ["-f", "alice@mx.test.example", "far@remote.example"], msg)
    frm, rcpts, head = relayed(p, peer)
    assert frm == "alice@dominio.com.uy"
    assert rcpts == ["far@remote.example"]
    assert hdr(head, b"From") == [b" Alice Example <alice@dominio.com.uy>"]
    assert hdr(head, b"Reply-To") == [b" alice@dominio.com.uy"]
    # recipient headers are not masqueraded (Sendmail without
    # allmasquerade); a local one stays the host's
    assert hdr(head, b"To") == [b" far@remote.example"]
    assert hdr(head, b"Cc") == [b" carol@mx.test.example"]
    # no X-Authentication-Warning: root is trusted
    assert b"X-Authentication-Warning" not in head


def test_seed003_root_is_exposed(make_postern, users, peer_factory):
    p = make_postern(extra=SEED003)
    peer = peer_factory(p.smarthost_port)
    sendmail(p, ["far@remote.example"],
             b"Subject: from root, no From header\n\nbody\n")
    frm, _, head = relayed(p, peer)
    assert frm == "root@mx.test.example"
    assert hdr(head, b"From") == [b" <root@mx.test.example>"]


def test_seed003_smtp_relay(make_postern, users, peer_factory):
    """Mail relayed from a LAN host over SMTP: qualified sender addresses
    in our domains go out masqueraded, the rest byte for byte."""
    p = make_postern(extra=SEED003)
    peer = peer_factory(p.smarthost_port)
    msg = (b"From: \"Bob (sales)\" <bob@test.example> (office)\r\n"
           b"Sender: root@test.example\r\n"
           b"Reply-To: bob@sub.test.example, team: bob@localhost,\r\n"
           b"  carol@elsewhere.example;\r\n"
           b"Resent-From: <@relay.example:ed@MX.Test.Example>\r\n"
           b"To: bob@test.example\r\n"
           b"Subject: relay\r\n\r\nbody\r\n")
    smtp(p, "bob@test.example", ["far@remote.example"], msg)
    frm, _, head = relayed(p, peer)
    assert frm == "bob@dominio.com.uy"
    assert hdr(head, b"From") == [
        b" \"Bob (sales)\" <bob@dominio.com.uy> (office)"]
    assert hdr(head, b"Sender") == [b" root@test.example"]	# exposed
    # sub.test.example is not ours without masquerade_entire_domain
    assert hdr(head, b"Reply-To") == [
        b" bob@sub.test.example, team: bob@dominio.com.uy,\n"
        b"  carol@elsewhere.example;"]
    assert hdr(head, b"Resent-From") == [
        b" <@relay.example:ed@dominio.com.uy>"]
    assert hdr(head, b"To") == [b" bob@test.example"]


def test_unparsable_header_is_left_as_it_is(make_postern, users,
                                            peer_factory):
    p = make_postern(extra=SEED003)
    peer = peer_factory(p.smarthost_port)
    bad = [b"From: <<alice@mx.test.example",
           b"Sender: \"unterminated alice@mx.test.example",
           b"Reply-To: alice@mx.test.example (comment",
           b"Resent-From: a@mx.test.example b@mx.test.example"]
    msg = b"\r\n".join(bad) + b"\r\nSubject: bad\r\n\r\nbody\r\n"
    smtp(p, "alice@elsewhere.example", ["far@remote.example"], msg)
    frm, _, head = relayed(p, peer)
    assert frm == "alice@elsewhere.example"
    for line in bad:
        assert line + b"\r\n" in head, (line, head)
    assert b"dominio.com.uy" not in head
    assert "header left as it is" in p.log()


def test_masquerade_without_envelope(make_postern, users, peer_factory):
    p = make_postern(extra="masquerade_as = dominio.com.uy\n")
    peer = peer_factory(p.smarthost_port)
    smtp(p, "bob@mx.test.example", ["far@remote.example"],
         b"From: bob@mx.test.example\r\nSubject: x\r\n\r\nbody\r\n")
    frm, _, head = relayed(p, peer)
    assert frm == "bob@mx.test.example"
    assert hdr(head, b"From") == [b" bob@dominio.com.uy"]


# --- seeds 000/002: no MASQUERADE_AS, nothing changes ----------------

def test_seed000_without_masquerade_as_changes_nothing(
        make_postern, users, peer_factory):
    p = make_postern(extra=SEED000)
    out = p.cli("check", check=False)
    assert "masquerade_envelope has no effect without masquerade_as" in (
        out.stdout + out.stderr)
    peer = peer_factory(p.smarthost_port)
    msg = (b"From: Alice <alice@mx.test.example>\n"
           b"Sender: bob@host.test.example\nSubject: seed 000\n\nbody\n")
    sendmail(p, ["-f", "alice@host.test.example", "far@remote.example"],
             msg)
    frm, _, head = relayed(p, peer)
    assert frm == "alice@host.test.example"
    assert hdr(head, b"From") == [b" Alice <alice@mx.test.example>"]
    assert hdr(head, b"Sender") == [b" bob@host.test.example"]


def test_seed002_with_masquerade_as_entire_domain(
        make_postern, users, peer_factory):
    """Seed 002 once the admin removes the dnl: MASQUERADE_AS plus the two
    features; the LAN's domain listed in masquerade_domains (Sendmail's
    MASQUERADE_DOMAIN) has its hosts masqueraded too."""
    p = make_postern(extra=SEED000 + "masquerade_as = midominio.com.mx\n"
                     "masquerade_domains = lan.example\n")
    peer = peer_factory(p.smarthost_port)
    msg = (b"From: a@pc1.lan.example\r\nSender: b@lan.example\r\n"
           b"Reply-To: c@lan.example.org, d@host.mx.test.example\r\n"
           b"Subject: x\r\n\r\nbody\r\n")
    smtp(p, "a@pc1.lan.example", ["far@remote.example"], msg)
    frm, _, head = relayed(p, peer)
    assert frm == "a@midominio.com.mx"
    assert hdr(head, b"From") == [b" a@midominio.com.mx"]
    assert hdr(head, b"Sender") == [b" b@midominio.com.mx"]
    # not under lan.example; our hostname's subdomains are not listed
    assert hdr(head, b"Reply-To") == [
        b" c@lan.example.org, d@host.mx.test.example"]


def test_null_sender_never_masqueraded(make_postern, users, peer_factory):
    p = make_postern(extra=SEED003)
    peer = peer_factory(p.smarthost_port)
    smtp(p, "", ["far@remote.example"],
         b"From: MAILER-DAEMON@mx.test.example\r\nSubject: x\r\n\r\nb\r\n")
    frm, _, head = relayed(p, peer)
    assert frm == "<>"	# as aiosmtpd records the null sender
    assert hdr(head, b"From") == [b" MAILER-DAEMON@dominio.com.uy"]


# --- always_add_domain ------------------------------------------------

def test_always_add_domain_sendmail_t(make_postern, users, rw_users,
                                      peer_factory):
    p = make_postern(extra=SEED003)
    peer = peer_factory(p.smarthost_port)
    msg = ("From: root\nReply-To: %s\nTo: %s, %s\n"
           "Cc: far@remote.example, \"Ed\" <ed>\n"
           "Subject: always_add_domain\n\nbody\n" % (
               rw_users[0], rw_users[0], rw_users[1])).encode()
    sendmail(p, ["-t", "-i"], msg)
    frm, rcpts, head = relayed(p, peer)
    assert rcpts == ["far@remote.example"]
    b, c = rw_users
    # senders get masquerade_as (root is exposed: the host name),
    # recipients the host name (Sendmail)
    assert hdr(head, b"From") == [b" root@mx.test.example"]
    assert hdr(head, b"Reply-To") == [(" %s@dominio.com.uy" % b).encode()]
    assert hdr(head, b"To") == [(" %s@mx.test.example, %s@mx.test.example"
                                 % (b, c)).encode()]
    assert hdr(head, b"Cc") == [
        b" far@remote.example, \"Ed\" <ed@mx.test.example>"]
    p.wait_mbox(b, "always_add_domain")
    assert ("To: %s@mx.test.example, %s@mx.test.example" % (b, c)).encode() in \
        p.mbox(b)


def test_always_add_domain_without_masquerading(make_postern, users,
                                                peer_factory):
    p = make_postern()
    peer = peer_factory(p.smarthost_port)
    sendmail(p, ["-t"], b"From: root\nTo: far@remote.example, root\n"
             b"Subject: x\n\nbody\n")
    _, _, head = relayed(p, peer)
    assert hdr(head, b"From") == [b" root@mx.test.example"]
    assert hdr(head, b"To") == [b" far@remote.example, root@mx.test.example"]


def test_smtp_unqualified_headers_are_not_ours(make_postern, users,
                                               peer_factory):
    """Mail from another host over SMTP: an unqualified address is not
    this host's, so it is left alone (Postfix's rule, not Sendmail's)."""
    p = make_postern(extra=SEED003)
    peer = peer_factory(p.smarthost_port)
    smtp(p, "x@elsewhere.example", ["far@remote.example"],
         b"From: bob\r\nTo: carol\r\nSubject: x\r\n\r\nbody\r\n")
    _, _, head = relayed(p, peer)
    assert hdr(head, b"From") == [b" bob"]
    assert hdr(head, b"To") == [b" carol"]


# --- trusted_users and X-Authentication-Warning -----------------------

WARN = b"X-Authentication-Warning"


def test_untrusted_f_gets_authentication_warning(make_postern, users,
                                                 rw_user, peer_factory):
    p = make_postern()
    peer = peer_factory(p.smarthost_port)
    sendmail(p, ["-f", "someone@else.example", "far@remote.example"],
             b"Subject: forged\n\nbody\n", user=rw_user)
    frm, _, head = relayed(p, peer)
    assert frm == "someone@else.example"	# accepted, as Sendmail
    lines = head.split(b"\r\n")
    assert lines[0].startswith(b"Received: by mx.test.example")
    warn = [x for x in lines if x.startswith(WARN)]
    assert warn == [("X-Authentication-Warning: mx.test.example: %s set "
                     "sender to someone@else.example using -f" %
                     rw_user).encode()]
    # right after the Received: trace, above the message's own headers
    assert lines.index(warn[0]) < lines.index(b"Subject: forged")
    # the null sender is a forged one too
    sendmail(p, ["-f", "<>", "far@remote.example"], b"Subject: n\n\nb\n",
             user=rw_user)
    frm, _, head = relayed(p, peer, 2)
    assert frm == "<>"
    assert (("%s set sender to <> using -f" % rw_user).encode()) in head


def test_own_address_and_trusted_get_no_warning(make_postern, users,
                                                rw_user, peer_factory):
    p = make_postern()
    peer = peer_factory(p.smarthost_port)
    n = 0
    for f in (rw_user, "%s@mx.test.example" % rw_user.upper(),
              "%s@localhost" % rw_user):
        sendmail(p, ["-f", f, "far@remote.example"],
                 b"Subject: own\n\nbody\n", user=rw_user)
        n += 1
        _, _, head = relayed(p, peer, n)
        assert WARN not in head, (f, head)
    sendmail(p, ["far@remote.example"], b"Subject: no -f\n\nbody\n",
             user=rw_user)
    _, _, head = relayed(p, peer, n + 1)
    assert WARN not in head
    # root is trusted
    sendmail(p, ["-f", "someone@else.example", "far@remote.example"],
             b"Subject: root\n\nbody\n")
    _, _, head = relayed(p, peer, n + 2)
    assert WARN not in head


def test_trusted_users_key(make_postern, users, rw_users, peer_factory):
    rw_user, other = rw_users
    p = make_postern(extra="trusted_users = %s\n" % rw_user)
    peer = peer_factory(p.smarthost_port)
    sendmail(p, ["-f", "list-bounces@else.example", "far@remote.example"],
             b"Subject: list\n\nbody\n", user=rw_user)
    frm, _, head = relayed(p, peer)
    assert frm == "list-bounces@else.example"
    assert WARN not in head
    # another local user is still warned about
    sendmail(p, ["-f", "x@else.example", "far@remote.example"],
             b"Subject: other\n\nbody\n", user=other)
    _, _, head = relayed(p, peer, 2)
    assert ("%s set sender to x@else.example" % other).encode() in head


def test_qualifying_never_makes_long_lines_or_overflows(make_postern, users,
                                                        peer_factory):
    """always_add_domain leaves a header as it came when a line would pass
    998 octets, or when the headers would grow past the room cleanup has
    for them; nothing after it is lost."""
    p = make_postern(extra="max_header_size = 20k\n")
    peer = peer_factory(p.smarthost_port)
    long_line = b"To: " + b"r, " * 320 + b"r"
    many = b"Cc: " + b",\n ".join([b"s"] * 4000)
    msg = (long_line + b"\n" + many + b"\nFrom: root\nSubject: end\n\nbody\n")
    sendmail(p, ["far@remote.example"], msg)
    _, _, head = relayed(p, peer)
    assert long_line + b"\r\n" in head
    assert many.replace(b"\n", b"\r\n") + b"\r\n" in head
    assert hdr(head, b"From") == [b" root@mx.test.example"]
    assert b"Subject: end\r\n" in head


def test_sendmail_t_reads_groups(make_postern, users, peer_factory):
    """sendmail -t takes recipients from RFC 5322 address lists: a group's
    members, an empty group, a display name with a comma, a folded line."""
    p = make_postern()
    peer = peer_factory(p.smarthost_port)
    sendmail(p, ["-t"], b"To: team: far@remote.example,\n"
             b"\tOther <other@remote.example>;\n"
             b"Cc: undisclosed-recipients:;\n"
             b"Bcc: \"Doe, J\" <bcc@remote.example> (hidden)\n"
             b"Subject: groups\n\nbody\n")
    _, rcpts, head = relayed(p, peer)
    assert sorted(rcpts) == ["bcc@remote.example", "far@remote.example",
                             "other@remote.example"]
    assert b"Bcc" not in head and b"bcc@remote.example" not in head
    assert hdr(head, b"Cc") == [b" undisclosed-recipients:;"]


def test_users_added_after_start_are_known(make_postern, users, rw_users,
                                           peer_factory):
    """useradd replaces /etc/passwd by rename: the confined workers must
    still read the new file (smtpd's local recipients, cleanup's login of
    a uid for sendmail and the -f check)."""
    p = make_postern()
    peer = peer_factory(p.smarthost_port)
    made = create_users(["pstrwzed"])
    try:
        smtp(p, "x@remote.example", ["%s@mx.test.example" % rw_users[0]],
             b"Subject: after useradd\r\n\r\nbody\r\n")
        p.wait_mbox(rw_users[0], "after useradd")
        sendmail(p, ["-f", "pstrwzed@mx.test.example", "far@remote.example"],
                 b"Subject: new user\n\nbody\n", user="pstrwzed")
        frm, _, head = relayed(p, peer)
        assert frm == "pstrwzed@mx.test.example"
        assert WARN not in head
    finally:
        remove_users(made)


def test_msa_qualifies_and_masquerades(sub_factory, peer_factory):
    """Port 587, authenticated (the MSA of SPEC 6, seed 003's relay):
    unqualified header addresses are completed as for sendmail."""
    s = sub_factory(extra=SEED003).start()
    p = s.p
    peer = peer_factory(p.smarthost_port)
    c = smtplib.SMTP("127.0.0.1", p.sub_port, timeout=20)
    c.starttls(context=ctx())
    c.login("alice", PASSWORD)
    c.sendmail("alice", ["far@remote.example"],
               b"From: Alice <alice>\r\nTo: bob, far@remote.example\r\n"
               b"Subject: msa\r\n\r\nbody\r\n")
    c.quit()
    frm, _, head = relayed(p, peer)
    assert frm == "alice@dominio.com.uy"
    assert hdr(head, b"From") == [b" Alice <alice@dominio.com.uy>"]
    assert hdr(head, b"To") == [b" bob@mx.test.example, far@remote.example"]
