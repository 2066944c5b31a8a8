"""A real DNS server on loopback for the policy tests: unbound as an
authoritative local-zone server (`unbound -d -c CONF`, own config, free
port, stopped by PID). unbound rather than dnsmasq: its local-zone types
give NXDOMAIN ("static") and a server failure ("refuse", which the
resolver reports as SERVFAIL) at once and deterministically, where
dnsmasq can only produce SERVFAIL by timing out on a dead upstream."""

import os
import shutil
import socket
import subprocess
import tempfile
import time

import pytest

from conftest import free_port, wait_for

UNBOUND = shutil.which("unbound") or "/usr/sbin/unbound"

# Zone data shared by the tests. Our own hostname is mx.test.example.
ZONE = """
  local-zone: "pt.example." static
  local-data: "good.pt.example. MX 10 mx.pt.example."
  local-data: "mx.pt.example. A 127.0.0.2"
  local-data: "aonly.pt.example. A 127.0.0.2"
  local-data: "v6only.pt.example. AAAA ::1"
  local-data: "nomail.pt.example. TXT \\"no address here\\""
  local-zone: "fail.pt.example." refuse
  local-zone: "blfail.pt.example." refuse
  # MX delivery: best preference first, fallback, loop
  local-data: "mxd.pt.example. MX 20 backup.pt.example."
  local-data: "mxd.pt.example. MX 10 primary.pt.example."
  local-data: "primary.pt.example. A 127.0.0.2"
  local-data: "backup.pt.example. A 127.0.0.3"
  local-data: "mxdown.pt.example. MX 10 dead.pt.example."
  local-data: "mxdown.pt.example. MX 20 primary.pt.example."
  local-data: "dead.pt.example. A 127.0.0.3"
  local-data: "loop.pt.example. MX 10 mx.test.example."
  local-data: "loop.pt.example. MX 20 primary.pt.example."
  local-data: "loopself.pt.example. MX 5 mx.test.example."
  local-data: "mx.test.example. A 127.0.0.1"
  # DNSBL: 127.0.0.10 and 127.0.0.12 are listed
  local-data: "10.0.0.127.bl.pt.example. A 127.0.0.2"
  local-data: "12.0.0.127.bl.pt.example. A 127.0.0.2"
  local-data: "10.0.0.127.bl.pt.example. TXT \\"listed\\""
  # reverse DNS of test clients
  local-zone: "127.in-addr.arpa." static
  local-data-ptr: "127.0.0.5 client5.pt.example."
  local-data: "client5.pt.example. A 127.0.0.5"
  local-data-ptr: "127.0.0.6 liar.trusted.pt.example."
  local-data: "liar.trusted.pt.example. A 127.0.0.99"
  local-data-ptr: "127.0.0.7 host.trusted.pt.example."
  local-data: "host.trusted.pt.example. A 127.0.0.7"
  local-data-ptr: "127.0.0.8 box.relayed.example."
  local-data: "box.relayed.example. A 127.0.0.8"
  local-zone: "relayed.example." static
"""


def _query(port, name):
    """A minimal A query: the rcode (0 when up)."""
    import struct
    q = struct.pack(">HHHHHH", 7, 0x0100, 1, 0, 0, 0) + b"".join(
        bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0" + \
        struct.pack(">HH", 1, 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(0.3)
    try:
        s.sendto(q, ("127.0.0.1", port))
        return s.recv(512)[3] & 15
    except OSError:
        return None
    finally:
        s.close()


class DNSServer:
    def __init__(self, extra=""):
        self.dir = tempfile.mkdtemp(prefix="postern-dns-", dir="/tmp")
        self.port = free_port()
        self.conf = os.path.join(self.dir, "unbound.conf")
        with open(self.conf, "w") as f:
            f.write("""server:
  interface: 127.0.0.1
  port: {p}
  do-daemonize: no
  username: ""
  chroot: ""
  directory: "{d}"
  pidfile: ""
  use-syslog: no
  logfile: "{d}/unbound.log"
  verbosity: 1
  access-control: 127.0.0.0/8 allow
  module-config: "iterator"
  do-not-query-localhost: no
{z}{x}
remote-control:
  control-enable: no
""".format(p=self.port, d=self.dir, z=ZONE, x=extra))
        self.proc = subprocess.Popen([UNBOUND, "-d", "-c", self.conf],
                                     stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        wait_for(lambda: _query(self.port, "good.pt.example") == 0,
                 timeout=10, what="unbound on port %d" % self.port)

    @property
    def spec(self):
        return "127.0.0.1:%d" % self.port

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def dns():
    if not os.path.exists(UNBOUND):
        pytest.skip("unbound not installed")
    d = DNSServer()
    yield d
    d.stop()
