"""Administration end to end (Step 5, item 4): restart SERVICE restarts
only that service while sessions of the others continue, condrestart,
queue show/hold/release/delete/requeue/flush/shape/--json, map -q, and
the newaliases, mailq and sendmail -bp/-bi/-q entry points, each by the
name a user types."""
import json
import os
import shutil
import smtplib
import subprocess

from conftest import POSTERN, wait_for
from test_queue import defer_one


def entry(p, name, *args, input=None):
    """Run the postern binary under another name (sendmail, mailq,
    newaliases), as an installed link would."""
    path = os.path.join(p.base, name)
    if not os.path.exists(path):
        shutil.copy(POSTERN, path)
        os.chmod(path, 0o755)
    return subprocess.run([path] + list(args), input=input, env=p.env,
                          capture_output=True, text=True, timeout=60)


def pids(p, comm):
    return sorted(pid for pid, c, _ in p.children(comm))


def test_restart_one_service_keeps_sessions(postern, users):
    p = postern
    wait_for(lambda: pids(p, "remote") and pids(p, "smtpd"), what="workers")
    smtpd, qmgr, remote = pids(p, "smtpd"), pids(p, "qmgr"), pids(p, "remote")
    s = smtplib.SMTP("127.0.0.1", p.port, timeout=20)
    s.ehlo("admin.test")
    r = p.cli("restart", "remote")
    assert "remote restarted" in r.stdout, r.stdout
    wait_for(lambda: pids(p, "remote") and
             not set(pids(p, "remote")) & set(remote),
             what="new remote processes")
    assert pids(p, "smtpd") == smtpd and pids(p, "qmgr") == qmgr
    # The open SMTP session goes on as if nothing happened.
    s.sendmail("a@client.test", [users["alice"]],
               "Subject: across restart\r\n\r\nstill here\r\n")
    s.quit()
    p.wait_mbox(users["alice"], "still here")
    assert "restart of remote requested" in p.log()


def test_restart_smtpd_drains_open_session(postern, users):
    p = postern
    wait_for(lambda: pids(p, "smtpd"), what="smtpd")
    old = pids(p, "smtpd")
    s = smtplib.SMTP("127.0.0.1", p.port, timeout=20)
    s.ehlo("admin.test")
    p.cli("restart", "smtpd")
    wait_for(lambda: set(pids(p, "smtpd")) - set(old), what="new smtpd")
    wait_for(lambda: all("smtpd[%d]: stopping gracefully" % o in p.log()
                         for o in old), what="old smtpd stopped accepting")
    # New connections go to the new generation; the old one finishes ours.
    s2 = smtplib.SMTP("127.0.0.1", p.port, timeout=20)
    s2.sendmail("b@client.test", [users["bob"]], "Subject: new\r\n\r\nnew\r\n")
    s2.quit()
    s.sendmail("a@client.test", [users["alice"]], "Subject: old\r\n\r\nold\r\n")
    s.quit()
    p.wait_mbox(users["alice"], "old")
    p.wait_mbox(users["bob"], "new")
    wait_for(lambda: not set(pids(p, "smtpd")) & set(old),
             what="old smtpd gone after its session")


def test_condrestart(make_postern):
    p = make_postern(start=False)
    r = p.cli("condrestart", check=False)
    assert r.returncode == 0 and p.master_pid() == 0   # not running: no-op
    p.start()
    old = p.master_pid()
    r = p.cli("condrestart", check=False)
    assert r.returncode == 0, r.stderr
    wait_for(lambda: p.master_pid() not in (0, old), what="new master")
    wait_for(lambda: p.port_open(p.port), what="listening again")
    assert p.cli("status", check=False).returncode == 0


def test_queue_show_shape_json_delete(postern):
    p = postern
    qid = defer_one(p)
    r = p.cli("queue", "show", qid)
    assert "held@remote.example" in r.stdout and "hold me" in r.stdout
    assert "a@client.test" in r.stdout
    r = p.cli("queue", "shape")
    lines = r.stdout.splitlines()
    assert any(l.split()[:2] == ["TOTAL", "1"] for l in lines), r.stdout
    assert any(l.split()[:2] == ["remote.example", "1"] for l in lines)
    objs = [json.loads(l) for l in p.cli("queue", "--json").stdout.splitlines()]
    assert [o["queue_id"] for o in objs] == [qid]
    assert objs[0]["queue_name"] == "deferred"
    assert objs[0]["recipients"][0]["address"] == "held@remote.example"
    assert objs[0]["recipients"][0]["delay_reason"]
    r = p.cli("queue", "delete", qid)
    assert "%s: deleted" % qid in r.stdout, r.stdout
    wait_for(p.queue_empty, what="queue empty")
    assert "Mail queue is empty" in p.cli("queue").stdout
    r = p.cli("queue", "show", qid, check=False)
    assert r.returncode == 1 and qid in r.stderr


def test_requeue_and_flush_deliver(postern, peer_factory):
    p = postern
    q1 = defer_one(p)
    defer_one(p)
    both = wait_for(lambda: len(p.queue_files("deferred")) == 2 and
                    p.queue_files("deferred"), what="two deferred")
    q2 = [q for q in both if q != q1][0]
    peer = peer_factory(p.smarthost_port)
    r = p.cli("queue", "requeue", q1)
    assert "%s: requeued" % q1 in r.stdout, r.stdout
    wait_for(lambda: len(peer.messages) >= 1, what="requeued delivered")
    assert q2 in p.queue_files("deferred")          # untouched by requeue
    r = entry(p, "sendmail", "-q")                  # = postern queue flush
    assert r.returncode == 0, r.stderr
    wait_for(lambda: len(peer.messages) == 2, what="flushed delivered")
    wait_for(p.queue_empty, what="queue empty")


def test_mailq_and_sendmail_bp_by_name(postern):
    p = postern
    qid = defer_one(p)
    for out in (entry(p, "mailq"), entry(p, "sendmail", "-bp"),
                p.cli("queue")):
        assert out.returncode == 0, out.stderr
        assert out.stdout.startswith("-Queue ID-") or qid in out.stdout
        assert qid in out.stdout and "held@remote.example" in out.stdout
        assert "-- 1 Kbytes in 1 Request." in out.stdout or \
            "in 1 Request." in out.stdout


def test_newaliases_and_map_q(postern, users):
    p = postern
    aliases = os.path.join(p.base, "etc", "aliases")
    with open(aliases, "a") as f:
        f.write("sales: %s\n" % users["bob"])
    r = entry(p, "newaliases")
    assert r.returncode == 0, r.stderr
    r = p.cli("map", "-q", "sales", aliases, check=False)
    assert r.returncode == 0 and users["bob"] in r.stdout, r
    r = p.cli("map", "-q", "nosuchkey", aliases, check=False)
    assert r.returncode != 0 and r.stdout == ""
    with open(aliases, "a") as f:
        f.write("support: %s\n" % users["carol"])
    r = entry(p, "sendmail", "-bi")
    assert r.returncode == 0, r.stderr
    assert users["carol"] in p.cli("map", "-q", "support", aliases).stdout
    old = pids(p, "smtpd")
    p.cli("reload")
    # New sessions reach the new generation once the old one has let go
    # of the listeners (it may take a connection in the moment between
    # the signal and its handling, as any MTA's old processes may).
    wait_for(lambda: all("smtpd[%d]: stopping gracefully" % o in p.log()
                         for o in old), what="old smtpd stopped accepting")
    s = smtplib.SMTP("127.0.0.1", p.port, timeout=20)
    s.sendmail("a@client.test", ["support@test.example"],
               "Subject: alias\r\n\r\nto support\r\n")
    s.quit()
    p.wait_mbox(users["carol"], "to support")
    access = os.path.join(p.base, "etc", "access")
    r = p.cli("map", "-q", "Connect:127.0.0.1", access, check=False)
    assert r.returncode == 0 and "RELAY" in r.stdout, r
