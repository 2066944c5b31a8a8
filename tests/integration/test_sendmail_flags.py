"""sendmail(8) flags of Step 5 item 2: -qR/-qS/-qI flush only the deferred
mail of one recipient domain, sender domain or queue ID (through qmgr, as
`postern queue flush -r/-s/-i`); -v prints the submission's transcript
and its queue ID; -N/-R/-V are accepted only where they ask for what
postern does anyway, else refused with exit 64, and nothing is queued."""
import re
import smtplib
import time

import pytest

from conftest import IS_ROOT, create_users, remove_users, wait_for
from test_admin import entry
from test_maildrop import down, maildrop, postdrop_group, sendmail  # noqa

MY_USERS = ["smflga", "smflgb"]


@pytest.fixture(scope="module")
def users():
    """Our own users: another session's teardown cannot remove them."""
    made = create_users(MY_USERS)
    yield {"alice": MY_USERS[0], "bob": MY_USERS[1], "carol": MY_USERS[1],
           "real": True}
    remove_users(made)


def defer(p, sender, rcpt, body):
    """One message through SMTP to the (down) smarthost; its queue ID once
    it sits in deferred/ (next try 60 s away)."""
    before = set(p.queue_files("deferred"))
    s = smtplib.SMTP("127.0.0.1", p.port, timeout=20)
    s.sendmail(sender, [rcpt], "Subject: %s\r\n\r\n%s\r\n" % (body, body))
    s.quit()
    new = wait_for(lambda: set(p.queue_files("deferred")) - before,
                   what="deferred")
    return new.pop()


def only_one_goes(p, peer, want, keep):
    """want was flushed and delivered; keep stays deferred, undelivered."""
    wait_for(lambda: peer.messages, what="flushed message delivered")
    wait_for(lambda: want not in p.queue_files("deferred") and
             want not in p.queue_files("active"), what="flushed one gone")
    time.sleep(3)               # time for a wrong flush to show
    assert len(peer.messages) == 1, peer.messages
    assert keep in p.queue_files("deferred")


def test_qR_flushes_one_recipient_domain(postern, peer_factory):
    p = postern
    q1 = defer(p, "a@client.test", "x@one.example", "for-one")
    q2 = defer(p, "a@client.test", "y@two.example", "for-two")
    peer = peer_factory(p.smarthost_port)
    r = entry(p, "sendmail", "-qR", "one.example")
    assert r.returncode == 0 and r.stdout == "" and r.stderr == "", r
    only_one_goes(p, peer, q1, q2)
    assert peer.messages[0][1] == ["x@one.example"]
    assert b"for-one" in peer.messages[0][2]
    assert "flush of recipient domain one.example: 1 deferred" in p.log()
    # The same through the admin CLI, with its answer (-v); the domain's
    # case does not matter.
    r = p.cli("queue", "flush", "-v", "-r", "TWO.Example")
    assert "flushing 1 deferred message(s) for recipient domain" in \
        r.stdout, r.stdout
    wait_for(lambda: len(peer.messages) == 2, what="second delivered")
    assert b"for-two" in peer.messages[1][2]
    wait_for(p.queue_empty, what="queue empty")


def test_qS_and_qI(postern, peer_factory):
    p = postern
    q1 = defer(p, "a@alpha.test", "z@far.example", "from-alpha")
    q2 = defer(p, "b@beta.test", "z@far.example", "from-beta")
    peer = peer_factory(p.smarthost_port)
    r = entry(p, "sendmail", "-qSalpha.test")          # attached, Sendmail's
    assert r.returncode == 0, r.stderr
    only_one_goes(p, peer, q1, q2)
    assert peer.messages[0][0] == "a@alpha.test"
    # A domain with no deferred mail flushes nothing and is no error.
    r = entry(p, "sendmail", "-v", "-qR@nowhere.example")
    assert r.returncode == 0, r.stderr
    assert "flushing 0 deferred message(s)" in r.stdout, r.stdout
    # -qI: one message by its queue ID.
    r = entry(p, "sendmail", "-qI" + q2)
    assert r.returncode == 0, r.stderr
    wait_for(lambda: len(peer.messages) == 2, what="-qI delivered")
    assert peer.messages[1][0] == "b@beta.test"
    wait_for(p.queue_empty, what="queue empty")
    r = entry(p, "sendmail", "-qI" + q2)                # gone now
    assert r.returncode == 1 and "no such deferred message" in r.stderr


def test_q_filters_bad_input(postern):
    p = postern
    q1 = defer(p, "a@client.test", "x@one.example", "stays")
    for args, why in ((["-qR"], "needs a domain"),
                      (["-qRbad domain!"], "not a domain name"),
                      (["-qR", "a" * 300], "not a domain name"),
                      (["-qIxyz"], "not a queue ID"),
                      (["-q!Rone.example"], "not supported"),
                      (["-N", "failure", "-q"], "only for a submission")):
        r = entry(p, "sendmail", *args)
        assert r.returncode == 64, (args, r)
        assert why in r.stderr, (args, r.stderr)
    r = p.cli("queue", "flush", "-r", "bad/domain", check=False)
    assert r.returncode == 1 and "not a domain name" in r.stderr
    r = p.cli("queue", "flush", "-x", "one.example", check=False)
    assert r.returncode == 1 and "usage" in r.stderr
    assert p.queue_files("deferred") == [q1]        # nothing lost
    p.stop()
    r = entry(p, "sendmail", "-qR", "one.example")
    assert r.returncode == 75 and "cannot reach qmgr" in r.stderr, r


def submit(p, *args, body=b"Subject: flags\n\nflag test\n"):
    return entry(p, "sendmail", *args, input=body.decode())


def test_v_transcript(postern, users):
    p = postern
    a = users["alice"]
    r = submit(p, "-v", "-f", "me@client.test", a,
               body=b"Subject: verbose\n\nverbose body\n")
    assert r.returncode == 0, r.stderr
    e = r.stderr
    assert "sendmail: >>> open sender=<me@client.test> rcpt=<%s>" % a in e
    m = re.search(r"sendmail: <<< ok queue_id=([0-9A-F]{16})\n"
                  r"sendmail: Sent \(Ok: queued as ([0-9A-F]{16})\)", e)
    assert m and m.group(1) == m.group(2), e
    size = len(b"Subject: verbose\n\nverbose body\n")
    assert ">>> end (%d bytes of content)" % size in e, e
    assert r.stdout == ""
    p.wait_mbox(a, "verbose body")
    # The queue ID printed is the one in the log of that message.
    assert "%s: from=<me@client.test>" % m.group(1) in p.log()
    # Without -v: not a word.
    r = submit(p, a)
    assert r.returncode == 0 and r.stderr == "" and r.stdout == ""
    # -v with a refusal: the error, and no "Sent".
    r = submit(p, "-v", "-f", "bad address@@", a)
    assert r.returncode != 0 and "Sent (" not in r.stderr
    r = entry(p, "sendmail", "-v", "-bp")
    assert r.returncode == 64 and "-v is only for" in r.stderr


@pytest.mark.skipif(not IS_ROOT, reason="needs root: a setgid postdrop")
def test_v_when_postern_is_down(make_postern, users, postdrop_group):
    p = down(make_postern)
    a = users["alice"]
    r = sendmail(p, postdrop_group, ["-v", a], b"Subject: d\n\ndown-v\n")
    assert r.returncode == 0, r.stderr
    e = r.stderr.decode()
    assert "postern is not running: handing the message to postdrop" in e
    assert "Sent (Ok: kept in the maildrop spool until postern starts)" \
        in e, e
    assert len(maildrop(p)) == 1
    p.start()
    p.wait_mbox(a, "down-v")


def queued_count(p):
    return len(p.queue_files("incoming") + p.queue_files("active") +
               p.queue_files("deferred"))


def test_dsn_flags_default_config(postern, users):
    p = postern
    a = users["alice"]
    for args in (["-N", "failure,delay"], ["-Ndelay,failure"],
                 ["-N", "FAILURE,Delay"], ["-R", "full"], ["-Rfull"],
                 ["-N", "never"], ["-N", "failure"], ["-R", "hdrs"],
                 ["-V", "env-1"]):
        r = submit(p, *(args + [a]),
                   body=("Subject: ok\n\naccepted %s\n" % args).encode())
        assert r.returncode == 0, (args, r.stderr)
        p.wait_mbox(a, "accepted %s" % args)
    before = p.mbox_count(a)
    for args, why in ((["-N", "never,failure"], "never goes alone"),
                      (["-N", "bogus"], "give never, or a list"),
                      (["-N", ""], "never goes alone"),
                      (["-R", "body"], "give full or hdrs"),
                      (["-V", "x" * 101], "1 to 100 printable"),
                      (["-n"], "not supported")):
        r = submit(p, *(args + [a]))
        assert r.returncode == 64, (args, r)
        assert why in r.stderr, (args, r.stderr)
    r = submit(p, "-N")
    assert r.returncode == 64 and "needs an argument" in r.stderr
    time.sleep(1)
    assert p.mbox_count(a) == before and queued_count(p) == 0


def test_dsn_N_follows_delay_warning(make_postern, users):
    p = make_postern(extra="delay_warning = 0\n")
    a = users["alice"]
    r = submit(p, "-N", "failure", a)
    assert r.returncode == 0, r.stderr
    p.wait_mbox(a, "flag test")
    # DSN is built: -N asks, postern sends what it sends (no delay
    # notices with delay_warning = 0)
    r = submit(p, "-N", "failure,delay", a)
    assert r.returncode == 0, r.stderr
