"""Queue admin: hold and release mean the same whether qmgr does the move
(postern running) or the CLI does it itself (postern stopped): a released
message goes to deferred/ due now and is delivered without a flush."""

import os
import smtplib
import time

from conftest import wait_for


def defer_one(p):
    """Send one message to the (down) smarthost; return its queue ID once
    it sits in deferred/. min_backoff is 60 s: its next try is far off."""
    s = smtplib.SMTP("127.0.0.1", p.port, timeout=20)
    s.sendmail("a@client.test", ["held@remote.example"],
               "Subject: held\r\n\r\nhold me\r\n")
    s.quit()
    ids = wait_for(lambda: p.queue_files("deferred"), what="deferred")
    return ids[0]


def hold(p, qid):
    r = p.cli("queue", "hold", qid)
    assert "held" in r.stdout, r.stdout
    wait_for(lambda: qid in p.queue_files("hold"), what="in hold/")
    assert qid not in p.queue_files("deferred")


def test_release_with_qmgr_running(postern, peer_factory):
    qid = defer_one(postern)
    hold(postern, qid)
    peer = peer_factory(postern.smarthost_port)
    r = postern.cli("queue", "release", qid)
    assert "%s: released" % qid in r.stdout, r.stdout
    assert qid not in postern.queue_files("hold")
    # Due now: delivered well before the 30-60 s backoff, with no flush.
    wait_for(lambda: peer.messages, what="delivered after release")
    assert b"hold me" in peer.messages[0][2]
    wait_for(postern.queue_empty, what="queue empty")


def test_release_with_qmgr_stopped(postern, peer_factory):
    qid = defer_one(postern)
    postern.stop()
    hold(postern, qid)
    before = time.time()
    r = postern.cli("queue", "release", qid)
    assert "%s: released" % qid in r.stdout, r.stdout
    # The CLI's own move: deferred/, next try (mtime) now.
    assert qid in postern.queue_files("deferred")
    assert qid not in postern.queue_files("hold")
    st = os.stat(os.path.join(postern.queue, "deferred", qid))
    assert before - 1 <= st.st_mtime <= time.time() + 1
    peer = peer_factory(postern.smarthost_port)
    postern.start()
    wait_for(lambda: peer.messages, what="delivered after release")
    assert b"hold me" in peer.messages[0][2]
    wait_for(postern.queue_empty, what="queue empty")
