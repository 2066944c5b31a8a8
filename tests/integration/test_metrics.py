"""postern status --json and postern metrics (Prometheus text): the
numbers come from master's pid/status, the queue files, qmgr's and
anvil's counters (req=stats), checked against what we did over SMTP."""
import json
import os
import re
import signal
import smtplib
import socket
import time

from conftest import wait_for

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"'
SAMPLE = re.compile(r"^(%s)(?:\{(%s(?:,%s)*)\})? (\S+)$" % (NAME, LABEL,
                                                          LABEL))


def prom_parse(text):
    """A strict reading of the Prometheus text format: every sample's
    family has one HELP then one TYPE before it, families are contiguous,
    names carry postern_, counters end in _total, labels are well formed.
    Returns {(name, ((label, value), ...)): float}."""
    assert text.endswith("\n"), "output must end with a newline"
    helps, types, out, done = {}, {}, {}, set()
    current = None
    for line in text[:-1].split("\n"):
        assert line, "empty line"
        if line.startswith("#"):
            m = re.match(r"^# (HELP|TYPE) (%s) (.+)$" % NAME, line)
            assert m, "bad comment line %r" % line
            kind, name, rest = m.groups()
            assert name.startswith("postern_"), name
            if kind == "HELP":
                assert name not in helps, "second HELP for " + name
                assert name not in done, "family %s split" % name
                helps[name] = rest
                if current is not None:
                    done.add(current)
                current = name
            else:
                assert helps.get(name) is not None and current == name, \
                    "TYPE before HELP for " + name
                assert name not in types, "second TYPE for " + name
                assert rest in ("counter", "gauge"), rest
                if rest == "counter":
                    assert name.endswith("_total"), name
                types[name] = rest
            continue
        m = SAMPLE.match(line)
        assert m, "bad sample line %r" % line
        name = m.group(1)
        assert name == current and name in types, \
            "sample %s without its HELP/TYPE just before" % name
        labels = tuple(re.findall(LABEL, m.group(2) or ""))
        assert len({k for k, _ in labels}) == len(labels), line
        value = float(m.group(m.lastindex))
        if types[name] == "counter":
            assert value >= 0, line
        key = (name, labels)
        assert key not in out, "duplicate sample %r" % line
        out[key] = value
    return out


def send(p, rcpts, sender="sender@client.test"):
    """One message to rcpts; the refused recipients (code per address)."""
    s = smtplib.SMTP(timeout=20)
    s.connect("127.0.0.1", p.port)
    try:
        s.ehlo("client.test")
        s.mail(sender)
        refused = {}
        ok = []
        for r in rcpts:
            code, _ = s.rcpt(r)
            if code == 250:
                ok.append(r)
            else:
                refused[r] = code
        if ok:
            s.data(b"Subject: metrics\r\n\r\nbody\r\n")
        s.quit()
    finally:
        s.close()
    return refused


def status(p):
    return json.loads(p.cli("status", "--json").stdout)


def metrics(p, check=True):
    r = p.cli("metrics", check=check)
    return r, prom_parse(r.stdout)


def ppid_of(pid):
    with open("/proc/%d/stat" % pid) as f:
        st = f.read()
    return int(st[st.rindex(")") + 2:].split()[1])


def test_counters_pids_queue_and_metrics(make_postern, users):
    p = make_postern()
    alice = users["alice"]
    for i in range(3):
        assert send(p, ["%s@localhost" % alice]) == {}
    # The smarthost (127.0.0.2) does not answer: deferred.
    assert send(p, ["far@relayed.example"]) == {}
    refused = send(p, ["nosuchuser_metrics@localhost"])
    assert list(refused.values()) == [550]
    # 127.0.0.9 is refused by the access map (Connect:127.0.0.9 REJECT).
    c = socket.create_connection(("127.0.0.1", p.port), 10,
                                 source_address=("127.0.0.9", 0))
    f = c.makefile("rb")
    assert f.readline().startswith(b"554")
    c.close()

    want = {"received": 4, "delivered": 3, "deferred": 1, "bounced": 0,
            "bounces": 0, "rejected_rcpt": 1, "rejected_conn": 1}
    js = wait_for(lambda: (lambda j: j["counters"] == want and j)(status(p)),
                  what="counters %r" % want)
    assert p.mbox_count(alice) == 3
    # Queue counts are the files.
    for q in ("incoming", "active", "deferred", "hold", "corrupt"):
        assert js["queue"][q] == len(p.queue_files(q)), q
    assert js["queue"]["deferred"] == 1
    # Every pid is alive, master's child, counted once, of its service.
    mp = p.master_pid()
    assert js["pid"] == mp and js["uptime"] >= 0
    seen = set()
    for name, sv in js["processes"].items():
        assert len(sv["pids"]) == sv["alive"] == js["services"][name]
        assert sv["restarts"] == 0
        for pid in sv["pids"]:
            assert ppid_of(pid) == mp and pid not in seen
            seen.add(pid)
        if sv["pids"]:
            assert 0 <= sv["uptime"] <= js["uptime"] + 1
    comm = {pid: c for pid, c, _ in p.children()}
    assert seen == set(comm)
    assert [comm[x] for x in js["processes"]["qmgr"]["pids"]] == ["qmgr"]
    assert {comm[x] for x in js["processes"]["smtp"]["pids"]} == {"smtpd"}

    r, m = metrics(p)
    assert r.returncode == 0
    assert m[("postern_up", ())] == 1
    assert m[("postern_messages_received_total", ())] == 4
    assert m[("postern_recipients_delivered_total", ())] == 3
    assert m[("postern_recipients_deferred_total", ())] == 1
    assert m[("postern_recipients_bounced_total", ())] == 0
    assert m[("postern_bounces_total", ())] == 0
    assert m[("postern_smtpd_rejected_rcpt_total", ())] == 1
    assert m[("postern_smtpd_rejected_connections_total", ())] == 1
    assert m[("postern_queue_messages", (("queue", "deferred"),))] == 1
    for name, sv in js["processes"].items():
        lab = (("service", name),)
        assert m[("postern_service_processes", lab)] == sv["alive"]
        assert m[("postern_service_restarts_total", lab)] == 0
    # The human form carries the counters too.
    out = p.cli("status").stdout
    assert "received 4, delivered 3, deferred 1" in out


def test_bounce_counted(make_postern, users):
    """A recipient that fails for good (an alias loop): one bounced
    recipient, one notice written; the notice, delivered to the sender,
    is a delivery but not a message received."""
    p = make_postern()
    alice = users["alice"]
    assert send(p, ["loop1@localhost"], sender="%s@localhost" % alice) == {}
    want = {"received": 1, "delivered": 1, "deferred": 0, "bounced": 1,
            "bounces": 1, "rejected_rcpt": 0, "rejected_conn": 0}
    wait_for(lambda: status(p)["counters"] == want,
             what="counters %r" % want)
    p.wait_mbox(alice, "loop1")
    _, m = metrics(p)
    assert m[("postern_recipients_bounced_total", ())] == 1
    assert m[("postern_bounces_total", ())] == 1


def test_restart_counted_after_kill(make_postern):
    p = make_postern()
    js = status(p)
    name = next(n for n in ("remote", "relay", "smtp")
                if js["processes"].get(n, {}).get("pids"))
    before = js["processes"][name]
    victim = before["pids"][0]
    os.kill(victim, signal.SIGKILL)

    def restarted():
        sv = status(p)["processes"][name]
        return (sv["restarts"] == before["restarts"] + 1 and
                victim not in sv["pids"] and
                len(sv["pids"]) == len(before["pids"]) and sv)
    sv = wait_for(restarted, what="%s restarted" % name)
    for pid in sv["pids"]:
        assert ppid_of(pid) == p.master_pid()
    others = status(p)["processes"]
    assert all(v["restarts"] == 0 for n, v in others.items() if n != name)
    _, m = metrics(p)
    assert m[("postern_service_restarts_total", (("service", name),))] == 1


def test_metrics_when_down(make_postern):
    p = make_postern(start=False)
    r, m = metrics(p)       # never started: no queue yet, still parses
    assert r.returncode == 0 and m == {("postern_up", ()): 0}
    p.start()
    p.cli("stop")
    r = p.cli("status", "--json", check=False)
    assert r.returncode == 3 and json.loads(r.stdout) == {"running": False}
    r, m = metrics(p)
    assert r.returncode == 0
    assert m[("postern_up", ())] == 0
    assert not any(k[0].startswith("postern_service") for k in m)
    # Queue files are still counted: a textfile collector sees a backlog
    # even while the mail system is down.
    assert m[("postern_queue_messages", (("queue", "incoming"),))] == 0


def test_parser_is_strict():
    good = ("# HELP postern_x_total x\n# TYPE postern_x_total counter\n"
            'postern_x_total{service="a\\"b"} 1\n')
    assert prom_parse(good)[("postern_x_total", (("service", 'a\\"b'),))] \
        == 1
    for bad in ("postern_x_total 1\n",
                "# TYPE postern_x counter\n# HELP postern_x x\npostern_x 1\n",
                "# HELP postern_x x\n# TYPE postern_x counter\npostern_x 1\n",
                '# HELP postern_y y\n# TYPE postern_y gauge\n'
                'postern_y{a="1} 1\n'):
        try:
            prom_parse(bad)
        except AssertionError:
            continue
        raise AssertionError("accepted %r" % bad)


def test_silent_qmgr_leaves_its_counters_out(make_postern):
    """qmgr stopped (SIGSTOP, by PID): status answers within its 2 s
    wait per process, qmgr's counters null and absent from metrics,
    anvil's still there; nothing else changes."""
    p = make_postern()
    qmgr = status(p)["processes"]["qmgr"]["pids"][0]
    os.kill(qmgr, signal.SIGSTOP)
    try:
        t = time.monotonic()
        js = status(p)
        assert time.monotonic() - t < 10
        assert js["counters"]["received"] is None
        assert js["counters"]["rejected_rcpt"] == 0
        r, m = metrics(p)
        assert r.returncode == 0 and m[("postern_up", ())] == 1
        assert ("postern_messages_received_total", ()) not in m
        assert m[("postern_smtpd_rejected_rcpt_total", ())] == 0
    finally:
        os.kill(qmgr, signal.SIGCONT)
    assert status(p)["counters"]["received"] == 0
