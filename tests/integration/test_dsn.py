"""DSN (RFC 3461-3464) end to end: the parameters on the wire, in the queue
file, toward a next hop that speaks DSN (Postfix's smtp-sink) and one that
does not (aiosmtpd), and in postern's own bounce and success notices."""

import glob
import os
import re
import shutil
import smtplib
import socket
import subprocess
import tempfile
import time

import pytest

from conftest import IS_ROOT, wait_for
from test_admin import entry

SINK = shutil.which("smtp-sink") or "/usr/sbin/smtp-sink"


def smtp(p):
    s = smtplib.SMTP("127.0.0.1", p.port, timeout=20)
    s.ehlo("client.test")
    return s


def send(p, sender, rcpts, body, mail_opts=()):
    """One message; rcpts is a list of (address, [RCPT options])."""
    s = smtp(p)
    code, text = s.mail(sender, list(mail_opts))
    assert code == 250, (code, text)
    for a, opts in rcpts:
        code, text = s.rcpt(a, list(opts))
        assert code == 250, (a, code, text)
    code, text = s.data(body)
    assert code == 250, (code, text)
    s.quit()
    return text.decode().split()[-1]        # "... queued as ID"


def queued(p):
    return [f for d in ("incoming", "active", "deferred", "hold")
            for f in p.queue_files(d)]


def removed(p, qid):
    return ("%s: removed" % qid) in p.log()


class Sink:
    """Postfix's smtp-sink on 127.0.0.2: offers DSN (unless dsn=False),
    dumps each transaction (X-Mail-Args, X-Rcpt-Args, content) to a file."""

    def __init__(self, port, dsn=True):
        self.dir = tempfile.mkdtemp(prefix="pstdsn-sink-")
        os.chmod(self.dir, 0o777)
        args = [SINK, "-d", os.path.join(self.dir, "m."), "-h",
                "sink.test"]
        if IS_ROOT:
            args += ["-u", "nobody"]
        if not dsn:
            args.append("-N")
        args += ["127.0.0.2:%d" % port, "10"]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        wait_for(lambda: self._listening(port), what="smtp-sink up")

    @staticmethod
    def _listening(port):
        try:
            socket.create_connection(("127.0.0.2", port), timeout=1).close()
            return True
        except OSError:
            return False

    def dumps(self):
        """The transactions dumped so far, each once complete (the file
        grows while the transaction goes on; the message ends it)."""
        out = []
        for f in sorted(glob.glob(os.path.join(self.dir, "m.*"))):
            with open(f, "rb") as fh:
                d = fh.read()
            if b"X-Mail-Args: " in d and d.endswith(b"\n\n") and \
                    b"\nSubject: " in d:
                out.append(d)
        return out

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def sink_factory():
    made = []

    def make(port, dsn=True):
        s = Sink(port, dsn)
        made.append(s)
        return s
    yield make
    for s in made:
        s.stop()


# ---- smtpd: advertised, parsed, refused -------------------------------

def test_ehlo_advertises_dsn(postern):
    s = smtp(postern)
    assert s.has_extn("dsn")
    s.quit()


@pytest.mark.parametrize("mail,rcpt,want", [
    # ORCPT with malformed xtext: lower-case hex, a cut "+X", "=", no type
    ("", "NOTIFY=FAILURE ORCPT=rfc822;a+2bb@remote.example", "501 5.5.4"),
    ("", "ORCPT=rfc822;ab+4", "501 5.5.4"),
    ("", "ORCPT=rfc822;a=b@remote.example", "501 5.5.4"),
    ("", "ORCPT=a@remote.example", "501 5.5.4"),
    ("", "ORCPT=rfc822;a+0Ab@remote.example", "501 5.5.4"),   # a LF
    ("", "ORCPT=rfc822;" + "x" * 490 + "@remote.example", "501 5.5.4"),
    # an ENVID over 100 octets (after decoding), a bad ENVID
    ("ENVID=" + "e" * 101, None, "501 5.5.4"),
    ("ENVID=" + "+41" * 101, None, "501 5.5.4"),
    ("ENVID=a+zzb", None, "501 5.5.4"),
    ("RET=BODY", None, "501 5.5.4"),
    ("RET=FULL RET=HDRS", None, "501 5.5.4"),
    ("", "NOTIFY=NEVER,SUCCESS", "501 5.5.4"),
    ("", "NOTIFY=SUCCESS,SUCCESS", "501 5.5.4"),
    ("", "NOTIFY=SOMETIMES", "501 5.5.4"),
    ("", "NOTIFY=FAILURE NOTIFY=DELAY", "501 5.5.4"),
    ("", "FOO=BAR", "555 5.5.4"),
])
def test_bad_dsn_parameters_refused_nothing_queued(postern, users, mail,
                                                   rcpt, want):
    s = smtp(postern)
    cmd = "MAIL FROM:<a@client.test>" + (" " + mail if mail else "")
    code, text = s.docmd(cmd)
    if rcpt is None:
        assert "%d %s" % (code, text.decode()[:5]) == want, (code, text)
        code, text = s.docmd("RCPT TO:<%s@localhost>" % users["alice"])
        assert code == 503, (code, text)        # no transaction open
    else:
        assert code == 250, (code, text)
        code, text = s.docmd("RCPT TO:<%s@localhost> %s"
                             % (users["alice"], rcpt))
        assert "%d %s" % (code, text.decode()[:5]) == want, (code, text)
        code, text = s.docmd("DATA")
        assert code == 554, (code, text)        # no valid recipients
    s.quit()
    assert queued(postern) == []


def test_good_parameters_accepted(postern, users):
    s = smtp(postern)
    code, _ = s.docmd("MAIL FROM:<a@client.test> RET=hdrs ENVID=" +
                      "+41" * 100)
    assert code == 250
    code, _ = s.docmd("RCPT TO:<%s@localhost> notify=success,failure,delay "
                      "ORCPT=rfc822;%s" % (users["alice"], "x" * 480))
    assert code == 250
    s.docmd("RSET")
    s.quit()


# ---- next hop that speaks DSN: parameters passed on -------------------

def test_next_hop_with_dsn_gets_the_parameters(postern, users, sink_factory):
    sink = sink_factory(postern.smarthost_port)
    alice = users["alice"]
    qid = send(postern, "%s@localhost" % alice, [
        ("one@remote.example",
         ["NOTIFY=SUCCESS,FAILURE", "ORCPT=rfc822;Orig+2Bone@client.test"]),
        ("two@remote.example", ["NOTIFY=NEVER"]),
        ("three@remote.example", []),
    ], "Subject: dsn relay\r\n\r\nbody\r\n",
        mail_opts=["RET=HDRS", "ENVID=env+2B42"])
    wait_for(lambda: sink.dumps(), what="message at the sink")
    d = sink.dumps()[0].decode()
    mail = re.search(r"^X-Mail-Args: (.*)$", d, re.M).group(1)
    rcpts = re.findall(r"^X-Rcpt-Args: (.*)$", d, re.M)
    assert "RET=HDRS" in mail and "ENVID=env+2B42" in mail, mail
    assert rcpts[0] == ("<one@remote.example> NOTIFY=SUCCESS,FAILURE "
                        "ORCPT=rfc822;Orig+2Bone@client.test"), rcpts
    assert rcpts[1] == ("<two@remote.example> NOTIFY=NEVER "
                        "ORCPT=rfc822;two@remote.example"), rcpts
    # no ORCPT given: the relay adds the address it received (3461 4.2)
    assert rcpts[2] == "<three@remote.example> ORCPT=rfc822;three@remote" \
        ".example", rcpts
    wait_for(lambda: removed(postern, qid), what="message done")
    # the next hop owns the success notice: we send none
    assert "delivery status notification" not in postern.log()
    assert b"Successful Mail Delivery" not in postern.mbox(alice)


def test_next_hop_without_dsn_gets_none_and_we_say_relayed(
        postern, users, sink_factory):
    sink = sink_factory(postern.smarthost_port, dsn=False)
    alice = users["alice"]
    qid = send(postern, "%s@localhost" % alice, [
        ("one@remote.example", ["NOTIFY=SUCCESS",
                                "ORCPT=rfc822;first@client.test"]),
    ], "Subject: no dsn hop\r\n\r\nbody\r\n",
        mail_opts=["RET=FULL", "ENVID=E1"])
    wait_for(lambda: sink.dumps(), what="message at the sink")
    d = sink.dumps()[0].decode()
    assert "RET=" not in d and "NOTIFY=" not in d and "ORCPT=" not in d
    box = postern.wait_mbox(alice, b"Successful Mail Delivery Report")
    assert b"Action: relayed" in box
    assert b"Original-Envelope-Id: E1" in box
    assert b"Original-Recipient: rfc822;first@client.test" in box
    assert b"Final-Recipient: rfc822; one@remote.example" in box
    wait_for(lambda: removed(postern, qid), what="message done")


# ---- our own notices ---------------------------------------------------

def test_bounce_has_envid_orcpt_and_headers_only(postern, users,
                                                 peer_factory):
    alice = users["alice"]
    peer = peer_factory(postern.smarthost_port)
    peer.rcpt_replies["gone@remote.example"] = "550 5.1.1 No such user"
    send(postern, "%s@localhost" % alice, [
        ("gone@remote.example", ["NOTIFY=FAILURE",
                                 "ORCPT=rfc822;Gone+2Bx@client.test"]),
    ], "Subject: pstdsn doomed\r\n\r\nSECRET BODY LINE\r\n",
        mail_opts=["RET=HDRS", "ENVID=pstdsn-env-1"])
    box = postern.wait_mbox(alice, b"Undelivered Mail Returned to Sender")
    assert b"Content-Type: multipart/report; report-type=delivery-status" \
        in box
    assert b"Original-Envelope-Id: pstdsn-env-1" in box
    assert b"Original-Recipient: rfc822;Gone+x@client.test" in box
    assert b"Final-Recipient: rfc822; gone@remote.example" in box
    assert b"Action: failed" in box and b"Status: 5.1.1" in box
    assert b"Content-Type: text/rfc822-headers" in box
    assert b"Subject: pstdsn doomed" in box
    assert b"SECRET BODY LINE" not in box


def test_bounce_ret_full_returns_the_body(postern, users, peer_factory):
    alice = users["alice"]
    peer = peer_factory(postern.smarthost_port)
    peer.rcpt_replies["gone@remote.example"] = "550 5.1.1 No such user"
    send(postern, "%s@localhost" % alice, [("gone@remote.example", [])],
         "Subject: full\r\n\r\nTHE WHOLE BODY\r\n", mail_opts=["RET=FULL"])
    box = postern.wait_mbox(alice, b"Undelivered Mail Returned to Sender")
    assert b"Content-Type: message/rfc822" in box
    assert b"THE WHOLE BODY" in box
    assert b"Original-Envelope-Id" not in box


def test_notify_never_and_success_only_give_no_bounce(postern, users,
                                                       peer_factory):
    alice = users["alice"]
    peer = peer_factory(postern.smarthost_port)
    peer.rcpt_replies["gone@remote.example"] = "550 5.1.1 No such user"
    peer.rcpt_replies["gone2@remote.example"] = "550 5.1.1 No such user"
    qid = send(postern, "%s@localhost" % alice, [
        ("gone@remote.example", ["NOTIFY=NEVER"]),
        ("gone2@remote.example", ["NOTIFY=SUCCESS"]),
    ], "Subject: quiet\r\n\r\nbody\r\n")
    wait_for(lambda: removed(postern, qid), what="message done")
    log = postern.log()
    assert "to=<gone@remote.example>, status=bounced" in log
    assert "non-delivery notification" not in log
    assert postern.mbox(alice) == b""


def test_success_notice_on_local_delivery(postern, users):
    alice, bob = users["alice"], users["bob"]
    qid = send(postern, "%s@localhost" % alice, [
        ("%s@localhost" % bob, ["NOTIFY=SUCCESS,FAILURE",
                                "ORCPT=rfc822;bob-orig@client.test"]),
        ("%s@localhost" % users["carol"], []),
    ], "Subject: pstdsn hello\r\n\r\nthe body\r\n", mail_opts=["ENVID=L1"])
    postern.wait_mbox(bob, b"the body")
    box = postern.wait_mbox(alice, b"Successful Mail Delivery Report")
    assert b"Action: delivered" in box and b"Status: 2.0.0" in box
    assert b"Original-Envelope-Id: L1" in box
    assert b"Original-Recipient: rfc822;bob-orig@client.test" in box
    assert ("Final-Recipient: rfc822; %s@" % bob).encode() in box
    # carol did not ask: she is not reported on
    assert ("Final-Recipient: rfc822; %s@" % users["carol"]).encode() \
        not in box
    assert b"Content-Type: text/rfc822-headers" in box
    assert b"the body" not in box
    wait_for(lambda: removed(postern, qid), what="message done")
    assert box.count(b"Successful Mail Delivery Report") == 1


def test_no_notice_to_the_null_sender(postern, users):
    bob = users["bob"]
    qid = send(postern, "<>", [("%s@localhost" % bob, ["NOTIFY=SUCCESS"])],
               "Subject: from nobody\r\n\r\nnull body\r\n")
    postern.wait_mbox(bob, b"null body")
    wait_for(lambda: removed(postern, qid), what="message done")
    assert "delivery status notification" not in postern.log()


def test_delay_notice_only_when_notify_allows(make_postern, users):
    p = make_postern(extra="delay_warning = 1s\n")
    alice = users["alice"]
    ids = {}
    for envid, opts in (("D-default", []), ("D-delay", ["NOTIFY=DELAY"]),
                        ("D-failure", ["NOTIFY=FAILURE"])):
        ids[envid] = send(p, "%s@localhost" % alice,
                          [("later@remote.example", opts)],
                          "Subject: %s\r\n\r\nwait\r\n" % envid,
                          mail_opts=["ENVID=" + envid])
    wait_for(lambda: len(p.queue_files("deferred")) == 3, what="deferred")
    time.sleep(1.2)             # older than delay_warning = 1s
    p.cli("queue", "flush")

    def tried_twice():
        log = p.log()
        return all(log.count("%s: deferred" % q) >= 2 for q in ids.values())
    wait_for(tried_twice, what="second tries")
    box = p.wait_mbox(alice, b"Original-Envelope-Id: D-delay")
    box = p.wait_mbox(alice, b"Original-Envelope-Id: D-default")
    assert box.count(b"Delayed Mail (still being retried)") == 2
    assert b"D-failure" not in box
    assert b"Action: delayed" in box


def _as_version_1(path):
    """Make a queue file (written without DSN parameters, so holding
    nothing version 2 added) exactly what the old writer wrote."""
    with open(path, "r+b") as f:
        head = f.read(8)
        assert head[:5] == b"PSTQ\x02"
        f.seek(4)
        f.write(b"\x01")


def test_version_1_queue_file_still_delivers(postern, peer_factory):
    s = smtplib.SMTP("127.0.0.1", postern.port, timeout=20)
    s.sendmail("a@client.test", ["old@remote.example"],
               "Subject: pstdsn old\r\n\r\nwritten before the upgrade\r\n")
    s.quit()
    qid = wait_for(lambda: postern.queue_files("deferred"),
                   what="deferred")[0]
    postern.stop()
    path = os.path.join(postern.queue, "deferred", qid)
    _as_version_1(path)
    peer = peer_factory(postern.smarthost_port)
    postern.start()
    postern.cli("queue", "flush")
    wait_for(lambda: peer.messages, what="v1 file delivered")
    assert b"written before the upgrade" in peer.messages[0][2]
    wait_for(postern.queue_empty, what="queue empty")
    assert "corrupt" not in postern.log().lower()


def test_sendmail_dsn_flags(postern, users):
    """sendmail -N, -R, -V reach the queue file: a success notice for the
    local delivery, with the envelope ID; through postdrop when down."""
    alice, bob = users["alice"], users["bob"]
    r = entry(postern, "sendmail", "-f", "%s@localhost" % alice,
              "-N", "success,failure", "-R", "hdrs", "-V", "pstdsn-sm-1",
              bob, input="Subject: sm dsn\n\nsm body\n")
    assert r.returncode == 0, r.stderr
    postern.wait_mbox(bob, b"sm body")
    box = postern.wait_mbox(alice, b"Original-Envelope-Id: pstdsn-sm-1")
    assert b"Action: delivered" in box
    postern.stop()
    r = entry(postern, "sendmail", "-f", "%s@localhost" % alice,
              "-N", "success", "-V", "pstdsn-sm-2", bob,
              input="Subject: sm dsn 2\n\nspooled body\n")
    assert r.returncode == 0, r.stderr
    postern.start()
    postern.wait_mbox(bob, b"spooled body")
    postern.wait_mbox(alice, b"Original-Envelope-Id: pstdsn-sm-2")
