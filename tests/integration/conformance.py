"""The conformance runner: a table row is one client transcript (what to
send, pipelined in one write when a step holds several commands, raw
bytes allowed) and the replies the RFC names (code, enhanced code where
the RFC or RFC 3463/5248 names one). Each row runs against postern and,
unless marked postern-only with the reason, against a private Postfix:
the two must agree, so the table is checked against a second MTA.
A row never matches reply text, and never passes on a reply it did not
read: every row ends with QUIT -> 221, so an extra reply fails it."""

import os
import re
import shutil
import socket
import tempfile
import time

import pytest

from conftest import Postern, TEST_USERS, free_port, wait_for
from postfix import running

# Features a row may need: an MTA that does not advertise one fails the
# row (none is pending any more: CHUNKING, DSN and SMTPUTF8 are built).
FEATURE_PENDING = set()

ALICE = TEST_USERS[0]           # a local user on both MTAs
LOCAL = ALICE + "@test.example"
CRLF = "\r\n"
# The size limit both MTAs run the table with (SIZE / 552 5.3.4 rows).
SIZE_LIMIT = 100000
POSTERN_CONF = "max_message_size = %d\n" % SIZE_LIMIT


class Row:
    """steps: [(send, [expected reply, ...]), ...]; send is str or bytes
    (one write), an expected reply "250", "250 2.1.5", "5" (any 5xx) or
    alternatives "503|554 5.5.1". ehlo: start with EHLO (True), HELO
    ("HELO") or nothing (False). postfix: True when Postfix must give
    the same replies, else the reason the row is postern-only. check:
    fn(mta, marker) run after the session (what was delivered). bug: a
    postern bug the row shows today (strict xfail on postern: the mark
    goes when the bug is fixed)."""

    def __init__(self, name, section, steps, feature=None, postfix=True,
                 ehlo=True, quit=True, check=None, bug=None):
        self.name, self.section, self.steps = name, section, steps
        self.feature, self.postfix, self.bug = feature, postfix, bug
        self.ehlo, self.quit, self.check = ehlo, quit, check


def params(rows):
    """pytest parameters: each row on postern and on Postfix."""
    out = []
    for r in rows:
        for mta in ("postern", "postfix"):
            marks = []
            if mta == "postfix" and r.postfix is not True:
                marks.append(pytest.mark.skip(
                    reason="postern-only: %s" % r.postfix))
            if mta == "postern" and r.bug:
                marks.append(pytest.mark.xfail(strict=True,
                                               reason="postern bug: " + r.bug))
            out.append(pytest.param(r, mta, marks=marks,
                                    id="%s-%s" % (r.name, mta)))
    return out


# --- the two MTAs ---------------------------------------------------

@pytest.fixture(scope="module")
def postern_mta(users):
    base = tempfile.mkdtemp(prefix="pstcf-it-", dir="/tmp")
    p = Postern(base, users, extra=POSTERN_CONF, tls=True)
    try:
        p.start()
        yield p
    finally:
        p.stop()
        if os.environ.get("POSTERN_KEEP") is None:
            shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def postfix_mta(users):
    # relayed mail waits for a next hop that is not there (no DNS)
    with running(size=SIZE_LIMIT, relayhost="[127.0.0.2]:%d" %
                 free_port("127.0.0.2")) as p:
        yield p


def mta_fixture(request, mta):
    return request.getfixturevalue(mta + "_mta")


# --- the wire ---------------------------------------------------------

class Client:
    """A raw SMTP client: send bytes, read whole replies."""

    def __init__(self, port, timeout=30):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout)
        self.f = self.sock.makefile("rb")
        self.log = []

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.log.append(">> %r" % data[:300])
        self.sock.sendall(data)

    def reply(self):
        """(code, [text lines]) of one reply; (0, []) on EOF."""
        lines = []
        while True:
            ln = self.f.readline(4096)
            if not ln:
                self.log.append("<< EOF")
                return 0, lines
            self.log.append("<< %r" % ln[:200])
            # RFC 5321 4.5.3.1.5: a reply line is at most 512 octets
            assert len(ln) <= 512, ("reply line over 512 octets", ln[:80])
            s = ln.decode("utf-8", "replace").rstrip("\r\n")
            lines.append(s[4:])
            if len(s) < 4 or s[3] != "-":
                return int(s[:3]) if s[:3].isdigit() else -1, lines

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


ENH = re.compile(r"^([245])\.(\d{1,3})\.(\d{1,3})\b")


def matches(pattern, code, lines):
    """pattern "250", "5", "503|554", "250 2.1.5", "553 5.6.7|5.1.3"."""
    if pattern == "EOF":
        return code == 0
    want_codes, _, want_enh = pattern.partition(" ")
    ok = False
    for w in want_codes.split("|"):
        ok = ok or str(code).startswith(w) and len(w) in (1, 3)
    if not ok:
        return False
    if want_enh:
        m = ENH.match(lines[-1] if lines else "")
        return bool(m) and m.group(0) in want_enh.split("|")
    return True


def ehlo_keywords(port):
    c = Client(port)
    try:
        c.reply()
        c.send("EHLO pstcf.client.example\r\n")
        code, lines = c.reply()
        c.send("QUIT\r\n")
        return {ln.split()[0].upper() for ln in lines[1:] if ln.split()}
    finally:
        c.close()


def gate(row, mta, target):
    """Skip a row whose pending feature postern does not advertise."""
    if row.feature is None:
        return
    kw = ehlo_keywords(target.port)
    if row.feature not in kw:
        if mta == "postern" and row.feature in FEATURE_PENDING:
            pytest.skip("not advertised: %s" % row.feature)
        raise AssertionError("%s does not advertise %s: %s" % (
            mta, row.feature, sorted(kw)))


class Chunks:
    """Text and BDAT chunks sent in one write; a chunk's size is counted
    after the row's marker is filled in. Chunks + Chunks or + str/bytes
    joins."""

    def __init__(self, parts):
        self.parts = parts

    def __add__(self, other):
        return Chunks(self.parts + (other.parts if isinstance(
            other, Chunks) else [other]))

    def __radd__(self, other):
        return Chunks([other] + self.parts)

    def render(self, marker):
        out = b""
        for p in self.parts:
            if isinstance(p, tuple):
                data = fill(p[0], marker)
                data = data.encode() if isinstance(data, str) else data
                out += b"BDAT %d%s\r\n" % (len(data),
                                           b" LAST" if p[1] else b"")
                out += data
            else:
                p = fill(p, marker)
                out += p.encode() if isinstance(p, str) else p
        return out


def bdat(payload, last=True):
    """One BDAT command with its chunk (bytes or str)."""
    return Chunks([(payload, last)])


def fill(x, marker):
    if isinstance(x, Chunks):
        return x.render(marker)
    if isinstance(x, bytes):
        return x.replace(b"{M}", marker.encode())
    return x.replace("{M}", marker)


def run(row, mta, request):
    """Play row against mta ("postern" or "postfix")."""
    target = mta_fixture(request, mta)
    gate(row, mta, target)
    marker = "pstcf-%s-%d" % (row.name, int(time.time() * 1000) % 10**9)
    steps = list(row.steps)
    if row.ehlo:
        verb = "HELO" if row.ehlo == "HELO" else "EHLO"
        steps.insert(0, (verb + " pstcf.client.example\r\n", ["250"]))
    if row.quit:
        steps.append(("QUIT\r\n", ["221"]))
    c = Client(target.port)
    try:
        code, lines = c.reply()
        assert code == 220, c.log
        for send, expect in steps:
            if send is not None:
                c.send(fill(send, marker))
            for want in expect:
                code, lines = c.reply()
                assert matches(want, code, lines), (
                    "%s (%s) on %s: wanted %s, got %d %s\n%s" % (
                        row.name, row.section, mta, want, code,
                        lines[-1:] if lines else "", "\n".join(c.log)))
    finally:
        c.close()
    if row.check:
        row.check(target, marker)


# --- helpers for the tables -------------------------------------------

def txn(rcpts=(LOCAL,), sender="pstcf-sender@client.example", mail_params=""):
    """MAIL + RCPTs as one pipelined step, each accepted."""
    data = "MAIL FROM:<%s>%s\r\n" % (sender, mail_params)
    data += "".join("RCPT TO:<%s>\r\n" % r for r in rcpts)
    return (data, ["250"] * (1 + len(rcpts)))


def message(body, marker_subject=True):
    """A small message whose Subject carries the row's marker."""
    head = "Subject: {M}\r\n\r\n" if marker_subject else ""
    return head + body


def delivered(*needles, user=ALICE, timeout=30):
    """check: messages with the row's marker reached user's mailbox and
    each needle (bytes) is in one of them."""
    def check(target, marker):
        def msgs():
            return [m for m in re.split(rb"\n(?=From )", target.mbox(user))
                    if marker.encode() in m]
        try:
            wait_for(lambda: msgs() and all(any(n in m for m in msgs())
                                            for n in needles),
                     timeout, what="%r in %s's mbox" % (needles, user))
        except AssertionError as e:
            raise AssertionError("%s\n%r" % (e, [m[:1500] for m in msgs()]))
    return check


def in_queue(target, needle):
    """Queue files of target (postern or Postfix) that hold needle."""
    hits = []
    for d, _, files in os.walk(target.queue):
        for n in files:
            path = os.path.join(d, n)
            try:
                if os.path.isfile(path) and not os.path.islink(path):
                    with open(path, "rb") as f:
                        if needle in f.read():
                            hits.append(path)
            except OSError:
                pass
    return hits


def not_delivered(user=ALICE, wait=3):
    """check: nothing with the row's marker reached user's mailbox or
    stays in the queue (a refused message leaves nothing behind)."""
    def check(target, marker):
        time.sleep(wait)
        assert marker.encode() not in target.mbox(user)
        assert not in_queue(target, marker.encode())
    return check
