"""
The protocol module at the edges: master's control socket answers through
`postern restart`, and cleanup's public socket refuses an open request
that lib/proto's decoder rejects (over-long value, NUL byte) with 554
while a good one still works.
"""
import os
import socket
import struct


def frame(*attrs):
    body = b"".join(bytes([len(n)]) + n.encode() + struct.pack(">I", len(v)) +
                    v for n, v in attrs)
    return struct.pack(">I", len(body)) + body


def read_frame(s):
    def need(n):
        b = b""
        while len(b) < n:
            c = s.recv(n - len(b))
            if not c:
                raise EOFError
            b += c
        return b
    n = struct.unpack(">I", need(4))[0]
    body, out, off = need(n), {}, 0
    while off < n:
        nl = body[off]
        name = body[off + 1:off + 1 + nl].decode()
        off += 1 + nl
        vl = struct.unpack(">I", body[off:off + 4])[0]
        out.setdefault(name, body[off + 4:off + 4 + vl])
        off += 4 + vl
    return out


def open_public(p, *attrs):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(20)
    s.connect(os.path.join(p.queue, "public", "cleanup"))
    s.sendall(frame(("req", b"open"), *attrs))
    return s, read_frame(s)


def test_restart_through_master(postern):
    r = postern.cli("restart", "anvil", check=False)
    assert r.returncode == 0 and "anvil restarted" in r.stdout, r
    r = postern.cli("restart", "nosuch", check=False)
    assert r.returncode == 1 and "no service named nosuch" in r.stderr, r
    r = postern.cli("restart", "x" * 100, check=False)
    assert r.returncode == 1 and "no service named" in r.stderr, r


def test_public_cleanup_refuses_bad_open(postern, users):
    for bad in ((("rcpt", b"a" * 513 + b"@x"),),
                (("rcpt", b"root\0@x"),),
                (("rcpt", b"root"), ("full_name", b"n" * 129)),
                (("rcpt", b"root"), ("max_size", b"-5x"))):
        s, r = open_public(postern, *bad)
        assert r.get("status") == b"error" and r.get("code") == b"554", \
            (bad, r)
        s.close()
    s, r = open_public(postern, ("rcpt", users["alice"].encode()),
                       ("full_name", b"A\r\nB"))
    assert r.get("status") == b"ok", r
    s.sendall(frame(("req", b"data"), ("chunk", b"Subject: t\n\nproto ok\n")))
    s.sendall(frame(("req", b"end")))
    r = read_frame(s)
    assert r.get("status") == b"ok" and len(r.get("queue_id", b"")) == 16, r
    s.close()
    box = postern.wait_mbox(users["alice"], b"proto ok")
    assert b"From: A??B <" in box, box   # controls in free text become '?'
