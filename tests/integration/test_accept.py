"""The acceptance path under load (step 7): one cleanup connection per
SMTP session (kept across messages and RSET, reopened when cleanup died,
never holding up another session when the cleanup pool is full, many
sessions at once), and qmgr's agent connections kept between jobs (a
dead agent's is never used).
The tests pools are small (cleanup_processes = 2), which is what makes
the starvation case real."""

import os
import signal
import smtplib
import threading
import time

from conftest import wait_for

MSG = "From: <a@remote.example>\r\nSubject: %s\r\n\r\nbody %s\r\n"


def socket_inodes(pid):
    out = set()
    try:
        for fd in os.listdir("/proc/%d/fd" % pid):
            try:
                t = os.readlink("/proc/%d/fd/%s" % (pid, fd))
            except OSError:
                continue
            if t.startswith("socket:"):
                out.add(t)
    except OSError:
        pass
    return out


def cleanup_connections(p):
    """Socket inodes that some cleanup process holds and master does not:
    connections cleanup accepted (the listening sockets are master's)."""
    own = socket_inodes(p.master_pid())
    conns = set()
    for pid, _, _ in p.children("cleanup"):
        conns |= socket_inodes(pid) - own
    return conns


def settled_connections(p):
    """cleanup_connections once it is the same twice 0.2 s apart (None
    before): the trigger cleanup sends qmgr after each commit is a
    socket too, open for a moment after the 250."""
    a = cleanup_connections(p)
    time.sleep(0.2)
    b = cleanup_connections(p)
    return b if a == b and b else None


def send(s, user, tag):
    s.sendmail("a@remote.example", [user + "@localhost"], MSG % (tag, tag))


def test_pstac_session_keeps_one_cleanup_connection(make_postern, users):
    p = make_postern()
    alice = users["alice"]
    s = smtplib.SMTP("127.0.0.1", p.port, timeout=30)
    s.ehlo("client.example")
    send(s, alice, "keep-1")
    first = wait_for(lambda: settled_connections(p), what="kept connection")
    assert len(first) == 1
    s.rset()
    send(s, alice, "keep-2")
    s.mail("a@remote.example")
    s.rset()                    # a transaction dropped before DATA
    send(s, alice, "keep-3")
    assert wait_for(lambda: settled_connections(p),
                    what="kept connection") == first    # the same one
    s.quit()
    wait_for(lambda: not cleanup_connections(p), what="connection closed")
    for tag in ("keep-1", "keep-2", "keep-3"):
        p.wait_mbox(alice, "body " + tag)
    assert p.mbox_count(alice) == 3


def test_pstac_kept_connections_never_starve_a_session(make_postern, users):
    """3 open sessions with 2 cleanup processes: each gets its 250 (the
    idle kept connection is given up for the one that waits)."""
    p = make_postern()
    bob = users["bob"]
    sessions = []
    for i in range(3):
        s = smtplib.SMTP("127.0.0.1", p.port, timeout=30)
        s.ehlo("client.example")
        sessions.append(s)
    for rnd in range(2):
        for i, s in enumerate(sessions):
            t0 = time.time()
            send(s, bob, "starve-%d-%d" % (rnd, i))
            # held up by an idle connection would be cleanup's 10 min
            assert time.time() - t0 < 25
    for s in sessions:
        s.quit()
    wait_for(lambda: p.mbox_count(bob) == 6, what="6 messages")
    for rnd in range(2):
        for i in range(3):
            assert b"body starve-%d-%d" % (rnd, i) in p.mbox(bob)


def test_pstac_cleanup_killed_between_messages(make_postern, users):
    p = make_postern()
    alice = users["alice"]
    s = smtplib.SMTP("127.0.0.1", p.port, timeout=30)
    s.ehlo("client.example")
    send(s, alice, "before-kill")
    wait_for(lambda: cleanup_connections(p), what="kept connection")
    old = [pid for pid, _, _ in p.children("cleanup")]
    for pid in old:
        os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not set(old) & {c[0] for c in p.children("cleanup")},
             what="old cleanup processes gone")
    wait_for(lambda: p.children("cleanup"), what="cleanup restarted")
    send(s, alice, "after-kill")        # on the same SMTP session: 250
    s.quit()
    p.wait_mbox(alice, "body after-kill")
    assert b"body before-kill" in p.mbox(alice)
    assert p.mbox_count(alice) == 2


def test_pstac_parallel_sessions_kept_connections(make_postern, users):
    """8 sessions x 5 messages at once on 2 cleanup processes: every 250
    is a queued message (delivered once, nothing corrupt)."""
    p = make_postern()
    alice = users["alice"]
    errors = []

    def client(i):
        try:
            s = smtplib.SMTP("127.0.0.1", p.port, timeout=60)
            s.ehlo("client.example")
            for k in range(5):
                send(s, alice, "par-%d-%d" % (i, k))
            s.quit()
        except Exception as e:          # reported below
            errors.append(repr(e))
    th = [threading.Thread(target=client, args=(i,)) for i in range(8)]
    for t in th:
        t.start()
    for t in th:
        t.join(120)
    assert not errors
    wait_for(lambda: p.mbox_count(alice) == 40, 60, what="40 messages")
    box = p.mbox(alice)
    for i in range(8):
        for k in range(5):
            assert b"body par-%d-%d\n" % (i, k) in box
    assert box.count(b"Subject: par-") == 40
    assert os.listdir(os.path.join(p.queue, "corrupt")) == []
    wait_for(p.queue_empty, what="queue empty")


def test_pstac_dead_agent_connection_not_reused(make_postern, users,
                                                peer_factory):
    p = make_postern()
    peer = peer_factory(p.smarthost_port)
    s = smtplib.SMTP("127.0.0.1", p.port, timeout=30)
    s.ehlo("client.example")
    s.sendmail("a@remote.example", ["x@relayed.example"],
               MSG % ("agent-1", "agent-1"))
    wait_for(lambda: len(peer.messages) == 1, what="first relayed")
    old = [pid for pid, _, _ in p.children("remote")]
    for pid in old:
        os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not set(old) & {c[0] for c in p.children("remote")},
             what="old remote processes gone")
    # within qmgr's 2 s idle time: its kept connection is a dead one
    s.sendmail("a@remote.example", ["y@relayed.example"],
               MSG % ("agent-2", "agent-2"))
    s.quit()
    wait_for(lambda: len(peer.messages) == 2, 20, what="second relayed")
    assert b"body agent-2" in peer.messages[1][2]
    assert "agent crashed" not in p.log()


def test_discarded_message_on_a_kept_connection(make_postern, users):
    """A message the access DB DISCARDs, after one that left the session
    a kept cleanup connection: DATA (over 60 KiB, more than one content
    frame) and BDAT both get 250 at once and nothing is delivered, and
    the next message is delivered (the kept connection was not this
    message's: streaming into it made cleanup hang up, 451, and BDAT
    waited for an open that was never sent)."""
    p = make_postern(start=False)
    path = os.path.join(p.base, "etc", "access")
    with open(path, "w") as f:
        f.write("From:disc@sender.example DISCARD\n")
    p.cli("map", path)
    p.start()
    alice = users["alice"]
    s = smtplib.SMTP("127.0.0.1", p.port, timeout=20)
    s.ehlo("client.example")
    send(s, alice, "kept-1")
    wait_for(lambda: cleanup_connections(p), what="kept connection")
    assert s.mail("disc@sender.example")[0] == 250
    assert s.rcpt(alice + "@localhost")[0] == 250
    body = b"Subject: b\r\n\r\ndiscarded-bdat\r\n"
    s.putcmd("BDAT", "%d LAST" % len(body))
    s.send(body)
    code, text = s.getreply()
    assert code == 250, text
    send(s, alice, "kept-2")
    wait_for(lambda: cleanup_connections(p), what="kept connection")
    big = "From: <disc@sender.example>\r\nSubject: d\r\n\r\n" + \
        ("discarded-data " * 6 + "\r\n") * 1200
    s.sendmail("disc@sender.example", [alice + "@localhost"], big)
    send(s, alice, "kept-4")
    s.quit()
    p.wait_mbox(alice, "body kept-4")
    p.wait_mbox(alice, "body kept-1")
    p.wait_mbox(alice, "body kept-2")
    assert p.mbox_count(alice) == 3
    assert b"discarded" not in p.mbox(alice)
    assert "bad or missing open request" not in p.log()
