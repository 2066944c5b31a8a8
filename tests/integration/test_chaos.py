"""The short chaos run of `make chaos` (tests/chaos/chaos.py): a few
hundred messages relayed to an aiosmtpd peer while random workers and the
master are killed with -9 (the master restarted by `postern start`); every
message that got 250 must reach the peer. Bounded: sending at most 40 s,
the drain at most 40 s, so the whole test stays under 90 s on a loaded
2-core machine."""

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "chaos"))
from chaos import chaos  # noqa: E402


def test_chaos_short():
    seed = int(os.environ.get("POSTERN_CHAOS_SEED") or time.time())
    t0 = time.time()
    r = chaos(messages=300, sessions=4, kills=5, duration=40, drain=40,
              seed=seed)
    took = time.time() - t0
    why = "seed %d: %r" % (seed, r)
    assert r["lost"] == 0, why
    assert r["drained"], why
    assert r["killed_master"] >= 1 and r["killed_workers"] >= 1, why
    assert r["restarts"] >= 1, why
    # a kill may cost a client its message (no 250): never most of them
    assert r["accepted"] >= 270, why
    assert r["delivered"] == r["accepted"], why
    assert took < 90, why
