"""
Memory at rest (Step 7, item 3): a program maps libunbound only if it
resolves (smtpd, remote), and a process idle after a load gives the heap
the load grew back to the kernel (worker_rest: malloc_trim).
"""
import os
import subprocess

import pytest

from conftest import BUILD, IS_ROOT, wait_for
from test_ondemand import at_rest, burst, od_users  # noqa: F401

RESOLVERS = {"smtpd", "remote"}


def programs():
    out = []
    for n in sorted(os.listdir(BUILD)):
        p = os.path.join(BUILD, n)
        if os.path.isfile(p) and os.access(p, os.X_OK):
            with open(p, "rb") as f:
                if f.read(4) == b"\x7fELF":
                    out.append(n)
    return out


def test_only_resolvers_map_libunbound():
    progs = programs()
    assert RESOLVERS <= set(progs), progs
    for n in progs:
        r = subprocess.run(["ldd", os.path.join(BUILD, n)],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        maps = "libunbound" in r.stdout
        assert maps == (n in RESOLVERS), (n, r.stdout)


def heap_kib(pid):
    """RSS of the [heap] mapping of pid, KiB."""
    with open("/proc/%d/smaps" % pid) as f:
        inside = False
        for line in f:
            w = line.split()
            if "-" in w[0] and not w[0].endswith(":"):
                inside = w[-1] == "[heap]"
            elif inside and w[0] == "Rss:":
                return int(w[1])
    return 0


@pytest.mark.skipif(not IS_ROOT, reason="reads the workers' smaps")
def test_idle_qmgr_gives_back_its_heap(make_postern, od_users):
    p = make_postern(extra="max_idle = 2s\n")
    wait_for(lambda: at_rest(p), what="resting pools")
    qmgr = p.children("qmgr")[0][0]
    rest = heap_kib(qmgr)
    user = od_users["carol"]
    ts, errs = burst(p, "%s@localhost" % user, "heap", 10, 20)
    peak = rest
    for t in ts:
        while t.is_alive():
            peak = max(peak, heap_kib(qmgr))
            t.join(0.05)
    assert not errs, errs
    wait_for(lambda: p.mbox_count(user) == 200, 60,
             what="200 messages delivered")
    # the load grew qmgr's heap; idle, it is back near its start
    assert peak > rest + 64, (rest, peak)
    wait_for(lambda: heap_kib(qmgr) <= rest + 64, 30,
             what="qmgr's heap trimmed at rest")
    assert p.children("qmgr")[0][0] == qmgr
