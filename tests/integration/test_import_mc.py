"""postern import-mc (step 5, item 1): the seeds' sendmail.mc files as
printed (data/import_mc/SEED/, typos included, with the map files the
seeds show beside them) translate into the expected postern.conf lines
and line-numbered warnings; nothing is dropped silently; the output
passes `postern check`; and on the wire, a postern started from the
imported seed-002 config relays for Connect: RELAY, refuses others with
550 5.7.1, holds max_recipients = 10 and requires AUTH on 587."""

import os
import pwd
import re
import shutil
import smtplib
import socket
import subprocess
import uuid

import pytest

from conftest import IS_ROOT, POSTERN, wait_for
from dnsserver import dns  # noqa: F401  (fixture)

DATA = os.path.join(os.path.dirname(__file__), "data", "import_mc")

# The keys the wire tests set themselves (the test's mailbox under its
# own directory), taken out of the imported text.
TEST_SETS = {"mailbox"}


def strip_test_keys(conf):
    return "".join(l for l in conf.splitlines(True)
                   if l.split("=")[0].strip() not in TEST_SETS)


def run(*args, cwd=None, check=False):
    r = subprocess.run([POSTERN, "import-mc"] + list(args), cwd=cwd,
                       capture_output=True, text=True, timeout=60)
    if check:
        assert r.returncode == 0, r.stderr
    return r


def keys(conf):
    """{(section, key): value} of a postern.conf text."""
    out, sect = {}, None
    for line in conf.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        m = re.match(r"\[(\w+)\]$", line)
        if m:
            sect = m.group(1)
            continue
        k, v = line.split("=", 1)
        out[(sect, k.strip())] = v.strip()
    return out


def copy_seed(tmp_path, seed):
    d = tmp_path / seed
    shutil.copytree(os.path.join(DATA, seed), d)
    return d


# ---- each seed as printed: keys and warnings ---------------------------

SEEDS = {
    "seed000": {
        "keys": {(None, "max_recipients"): "10",
                 (None, "max_header_size"): "10240",
                 (None, "max_message_size"): "3075000",
                 (None, "max_sessions"): "5",
                 (None, "connection_rate_limit"): "4",
                 (None, "masquerade_envelope"): "yes",
                 (None, "masquerade_entire_domain"): "yes",
                 (None, "auth_plaintext_requires_tls"): "yes",
                 (None, "auth_mechanisms"): "DIGEST-MD5 CRAM-MD5 LOGIN PLAIN",
                 (None, "auth"): "optional",
                 ("smtp", "listen"): "0.0.0.0:25",
                 ("submission", "listen"): "0.0.0.0:587"},
        "absent": [(None, "masquerade_as"), (None, "vrfy"),
                   (None, "require_resolvable_sender")],
        "warn": [(1, "DAEMON_OPTIONS: read leniently (typographic or "
                  "unbalanced quotes; spaces inside the macro name"),
                 (1, "understood as DAEMON_OPTIONS(`Port=smtp, Name=MTA')"),
                 (7, "understood as define(`confAUTH_OPTIONS', `A p')"),
                 (8, "cannot read this line as a macro call: skipped"),
                 (9, "no postern equivalent: not mapped"),
                 (11, "the call spans lines: joined"),
                 (11, "EXTERNAL GSSAPI: postern's SASL does not offer them"),
                 (15, "understood as define(`confMAX_RCPTS_PER_MESSAGE', "
                  "`10')"),
                 (19, "understood as define(`confCONNECTION_RATE_THROTTLE'"
                  ", `4')")],
    },
    "seed001": {
        "keys": {(None, "local_domains"):
                 "myhostname.myprimary.domain, localhost",
                 (None, "smarthost"): "my.relay.host.domain",
                 (None, "mailbox_command"): "/bin/deliver $USER",
                 ("smtp", "listen"): "0.0.0.0:25",
                 ("submission", "listen"): "0.0.0.0:587"},
        "absent": [],
        "warn": [(15, "Cw: myhostname.UUCP: a UUCP name; postern has no "
                  "UUCP: left out"),
                 (17, "FEATURE(nodns): read leniently (`dn1' taken as "
                  "`dnl')"),
                 (17, "FEATURE(nodns): no postern equivalent: postern "
                  "always uses DNS; set dns_servers for split DNS"),
                 (19, "FEATURE(redirect): postern has no .REDIRECT"),
                 (21, "`dn1' read as `dnl': the line is a comment"),
                 (23, "MAILER(uucp): postern has no UUCP"),
                 (24, "understood as define(`RELAY_HOST', "
                  "`smtp:my.relay.host.domain')"),
                 (26, "UUCP_RELAY: postern has no UUCP"),
                 (27, "postern runs it as the recipient, not as root")],
        "notes": [(18, "FEATURE(always_add_domain): postern always does"),
                  (20, "FEATURE(nocanonify): postern always does"),
                  (24, "RELAY_HOST: the same host as SMART_HOST (line 25)")],
    },
    "seed002": {
        "keys": {(None, "max_recipients"): "10",
                 (None, "auth_plaintext_requires_tls"): "yes",
                 (None, "auth_mechanisms"): "DIGEST-MD5 CRAM-MD5 LOGIN PLAIN",
                 ("smtp", "listen"): "0.0.0.0:25",
                 ("submission", "listen"): "0.0.0.0:587"},
        "absent": [("submission", "auth")],
        "warn": [(8, "read leniently (`dn1' taken as `dnl'; typographic or "
                  "unbalanced quotes): understood as "
                  "define(`confAUTH_OPTIONS', `A')"),
                 (10, "a call after `dnl' on the same line (m4 would ignore "
                  "it)")],
        "notes": [(7, "defined again at line 9")],
        "unused": ["access is beside", "no FEATURE(access_db) names it: "
                   "Sendmail did not read it, nor will postern"],
    },
    "seed003": {
        "keys": {(None, "log_level"): "debug",
                 (None, "trusted_users"): "root, smmsp",
                 (None, "vrfy"): "no", (None, "expn"): "no",
                 (None, "exposed_users"): "root",
                 (None, "masquerade_as"): "dominio.com.uy",
                 (None, "masquerade_envelope"): "yes",
                 (None, "delay_checks"): "yes",
                 (None, "auth"): "optional",
                 (None, "auth_mechanisms"): "DIGEST-MD5 CRAM-MD5 LOGIN PLAIN",
                 (None, "mailbox_command"):
                 "/usr/bin/procmail -t -Y -a $EXTENSION -d $USER",
                 (None, "dnsbl"): 'blackholes.mail-abuse.org="Rejected - '
                 'see www.mail-abuse.org/rbl/", dialups.mail-abuse.org='
                 '"Rejected - see www.mail-abuse.org/dul/", '
                 'relays.mail-abuse.org="Rejected - see '
                 'work-rss.mail-abuse.org/rss/"',
                 ("smtp", "listen"): "0.0.0.0:25"},
        "absent": [("submission", "listen"), (None, "smarthost")],
        "warn": [(5, "understood as define(`confLOG_LEVEL', `15')"),
                 (10, "confTO_CONNECT: postern has no setting for this "
                  "timeout"),
                 (19, "without p Sendmail offered PLAIN and LOGIN before "
                  "STARTTLS"),
                 (25, "FEATURE(smrsh): no postern equivalent"),
                 (37, "FEATURE(relay_based_on_MX): not built"),
                 (42, "understood as FEATURE(`dnsbl', "
                  "`blackholes.mail-abuse.org', `Rejected - see "
                  "www.mail-abuse.org/rbl/')")],
        "notes": [(24, "FEATURE(no_default_msa): no default [submission]"),
                  (29, "FEATURE(always_add_domain): postern always does"),
                  (49, "MAILER(smtp): SMTP delivery is built in")],
    },
    "seed003-cyrus": {
        "keys": {(None, "mailbox"): "lmtp:unix:/var/lib/imap/socket/lmtp",
                 (None, "log_level"): "debug",
                 (None, "masquerade_as"): "linux.dominio.edu.uy"},
        "absent": [(None, "mailbox_command")],
        "warn": [(16, "STATUS_FILE: no statistics file"),
                 (26, "confLOCAL_MAILER: check the path of Cyrus's LMTP "
                  "socket"),
                 (35, "FEATURE(local_procmail): not used: confLOCAL_MAILER "
                  "at line 26")],
        "notes": [(55, "MAILER(cyrus): Cyrus is reached over LMTP")],
    },
}

def mc_of(seed):
    return os.path.join(DATA, seed, "sendmail.mc")


@pytest.mark.parametrize("seed", sorted(SEEDS))
def test_seed_translation(seed):
    exp = SEEDS[seed]
    r = run(mc_of(seed), check=True)
    got = keys(r.stdout)
    for k, v in exp["keys"].items():
        assert got.get(k) == v, (k, got.get(k), r.stdout)
    for k in exp["absent"]:
        assert k not in got, (k, r.stdout)
    for line, text in exp["warn"]:
        want = "postern: warning: %s:%d: " % (mc_of(seed), line)
        assert any(l.startswith(want) and text in l
                   for l in r.stderr.splitlines()), (line, text, r.stderr)
    for text in exp.get("unused", []):
        assert text in r.stderr, (text, r.stderr)
    for line, text in exp.get("notes", []):
        want = "# %s:%d: " % (mc_of(seed), line)
        assert any(l.startswith(want) and text in l
                   for l in r.stdout.splitlines()), (line, text, r.stdout)


def statement_lines(path):
    """Line numbers where a macro call, define or Cw line starts (not
    comments, blank lines or m4 boilerplate)."""
    out = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            s = line.strip().lstrip("|\u2018 ")
            if not s or s.startswith(("#", "dnl", "dn1 ")):
                continue
            if re.match(r"(divert|include\(.*cf\.m4|VERSIONID|OSTYPE|"
                        r"define\(`(confCF_VERSION|__OSTYPE__)')", s):
                continue
            if re.match(r"[A-Za-z_][\w ]*\(|Cw", s) or "\u00a3" in s:
                out.append(n)
    return out


@pytest.mark.parametrize("seed", sorted(SEEDS) + ["seed003-submit"])
def test_nothing_dropped_silently(seed):
    mc = mc_of(seed) if seed in SEEDS else os.path.join(DATA, seed,
                                                         "submit.mc")
    r = run(mc, check=True)
    both = r.stdout + r.stderr
    lines = statement_lines(mc)
    assert lines
    for n in lines:
        assert "%s:%d: " % (mc, n) in both, (n, both)


def test_submit_mc_is_the_client_side():
    mc = os.path.join(DATA, "seed003-submit", "submit.mc")
    r = run(mc, check=True)
    assert re.search(r"submit.mc:12: FEATURE\(msp\): this is a submit.mc: "
                     r"Sendmail's client side", r.stderr), r.stderr
    assert "confPID_FILE: not mapped" in r.stderr
    assert "[smtp]" not in r.stdout and "alias_map" not in r.stdout


# ---- -o DIR: maps copied and compiled, output passes postern check ------

def check_conf(tmp_path, out, extra=""):
    """postern check of the output with only the test's own paths and
    identity added in front (they are not in the output)."""
    conf = tmp_path / "check.conf"
    with open(out / "postern.conf") as f:
        text = f.read()
    who = "user = nobody\ngroup = nogroup\n" if IS_ROOT else (
        "user = %s\ngroup = %s\n" % (pwd.getpwuid(os.getuid()).pw_name,
                                     pwd.getpwuid(os.getuid()).pw_name))
    conf.write_text("queue_dir = %s\nlog = stderr\n%s%s%s" % (
        tmp_path / "queue", who, extra, text))
    return subprocess.run([POSTERN, "-c", str(conf), "check"],
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("seed", ["seed002-applied", "seed003", "seed000",
                                  "seed001"])
def test_output_dir_passes_check(tmp_path, seed):
    d = copy_seed(tmp_path, seed)
    out = tmp_path / "out"
    r = run(str(d / "sendmail.mc"), "-o", str(out), check=True)
    assert "wrote %s/postern.conf" % out in r.stderr
    conf = (out / "postern.conf").read_text()
    got = keys(conf)
    assert got[(None, "config_dir")] == str(out)
    for name in ("access", "local-host-names", "relay-domains"):
        if (d / name).exists() and seed != "seed000":
            assert (out / name).read_bytes() == (d / name).read_bytes()
    if (d / "access").exists():
        assert (out / "access.cdb").exists()
        assert got[(None, "access_map")] == str(out / "access")
        q = subprocess.run([POSTERN, "map", "-q", "Connect:127.0.0.1",
                            str(out / "access")], capture_output=True,
                           text=True)
        if seed == "seed002-applied":
            assert q.stdout.strip() == "RELAY"
    if seed == "seed003":
        assert (out / "aliases.cdb").exists()
        assert got[(None, "alias_map")] == str(out / "aliases")
        assert got[(None, "local_domains")] == \
            "localhost.localdomain, %s" % (out / "local-host-names")
        assert got[(None, "relay_domains")] == str(out / "relay-domains")
    c = check_conf(tmp_path, out)
    assert c.returncode == 0, c.stderr


def test_never_overwrites_without_force(tmp_path):
    d = copy_seed(tmp_path, "seed002-applied")
    out = tmp_path / "out"
    run(str(d / "sendmail.mc"), "-o", str(out), check=True)
    (out / "postern.conf").write_text("# mine\n")
    r = run(str(d / "sendmail.mc"), "-o", str(out))
    assert r.returncode == 1
    assert "postern.conf exists; use --force to replace it" in r.stderr
    assert (out / "postern.conf").read_text() == "# mine\n"
    assert not [n for n in os.listdir(out) if n.startswith(".postern")]
    # a map file of the admin's in DIR is not replaced either
    (out / "postern.conf").unlink()
    (out / "access").write_text("Connect:10.0.0.1 RELAY\n")
    r = run(str(d / "sendmail.mc"), "-o", str(out))
    assert r.returncode == 1 and "access exists; use --force" in r.stderr
    assert not (out / "postern.conf").exists()
    r = run(str(d / "sendmail.mc"), "-o", str(out), "--force", check=True)
    assert "max_recipients = 10" in (out / "postern.conf").read_text()
    assert (out / "access").read_bytes() == (d / "access").read_bytes()


def test_output_beside_the_mc(tmp_path):
    """-o the .mc's own directory (/etc/mail): nothing copied, the maps
    compiled where they are, and Red Hat's loopback-only daemon kept."""
    d = copy_seed(tmp_path, "seed002-applied")
    mc = d / "sendmail.mc"
    mc.write_text(mc.read_text() + "DAEMON_OPTIONS(`Port=smtp,Addr=127.0.0.1, "
                  "Name=MTA')dnl\n")
    r = run(str(mc), "-o", str(d), check=True)
    got = keys((d / "postern.conf").read_text())
    assert got[(None, "access_map")] == str(d / "access")
    assert (d / "access.cdb").exists()
    text = (d / "postern.conf").read_text()
    assert "copied from %s" % d not in text
    assert got[("smtp", "listen")] == "0.0.0.0:25, 127.0.0.1:25"
    assert "only this host can connect" in text
    assert re.search(r"sendmail.mc:22: DAEMON_OPTIONS: port 25 is also "
                     r"taken on every address by the DAEMON_OPTIONS at line "
                     r"5: the listener could not start", r.stderr), r.stderr


def test_stdout_points_at_the_files_beside_the_mc(tmp_path):
    d = copy_seed(tmp_path, "seed003")
    r = run(str(d / "sendmail.mc"), check=True)
    got = keys(r.stdout)
    assert got[(None, "access_map")] == str(d / "access")
    assert got[(None, "alias_map")] == str(d / "aliases")
    assert "compile it with: postern map %s" % (d / "access") in r.stdout
    assert not (d / "access.cdb").exists()    # stdout mode writes nothing


def test_trusted_users_file(tmp_path):
    d = copy_seed(tmp_path, "seed003")
    (d / "trusted-users").write_text("# Sendmail's trusted users\n"
                                     "smmsp\nwww-data\n")
    r = run(str(d / "sendmail.mc"), check=True)
    assert keys(r.stdout)[(None, "trusted_users")] == \
        "root, smmsp, www-data"
    assert re.search(r"sendmail.mc:31: FEATURE\(use_ct_file\): 2 names "
                     r"read from .*trusted-users", r.stdout)


def test_sasl_settings_follow(tmp_path):
    """Sendmail's Sendmail.conf (seed 003: pwcheck_method:saslauthd) goes
    with AUTH, or every login would fail after the move."""
    d = copy_seed(tmp_path, "seed003")
    (d / "Sendmail.conf").write_text("pwcheck_method:saslauthd\n")
    r = run(str(d / "sendmail.mc"), check=True)
    assert re.search(r"sendmail.mc:21: confAUTH_MECHANISMS: copy .*"
                     r"Sendmail.conf to /etc/sasl2/postern.conf", r.stderr)
    out = tmp_path / "out"
    r = run(str(d / "sendmail.mc"), "-o", str(out), check=True)
    assert (out / "sasl2" / "postern.conf").read_text() == \
        "pwcheck_method:saslauthd\n"
    assert keys((out / "postern.conf").read_text())[
        (None, "sasl_config_dir")] == str(out / "sasl2")
    c = check_conf(tmp_path, out)
    assert c.returncode == 0, c.stderr
    (out / "postern.conf").unlink()
    (out / "sasl2" / "postern.conf").write_text("pwcheck_method: auxprop\n")
    r = run(str(d / "sendmail.mc"), "-o", str(out))
    assert r.returncode == 1 and "sasl2/postern.conf exists" in r.stderr


# ---- bad input ---------------------------------------------------------

def test_bad_input(tmp_path):
    r = run(str(tmp_path / "missing.mc"), "-o", str(tmp_path / "o"))
    assert r.returncode == 1 and "missing.mc: No such file" in r.stderr
    assert not (tmp_path / "o" / "postern.conf").exists()
    r = run()
    assert r.returncode == 1 and "usage: postern import-mc" in r.stderr
    mc = tmp_path / "bad.mc"
    mc.write_text("divert(-1)dnl\n"
                  "define(`confMAX_MESSAGE_SIZE', `2000000'\n"
                  "FEATURE(`nosuchfeature')dnl\n"
                  "include(`/etc/mail/local.m4')dnl\n"
                  "LOCAL_CONFIG\n"
                  "Kfoo hash /etc/mail/foo\n"
                  "define(`confMAX_RCPTS_PER_MESSAGE', `many')dnl\n"
                  "DAEMON_OPTIONS(`Port=smtp,Addr=mail.example.com')dnl\n"
                  "define(`confTO_QUEUERETURN', `2d12h')dnl\n"
                  "DAEMON_OPTIONS(`Port=smtp,Addr=192.168.0.1 Name=MTA')dnl\n"
                  "\x00\xff garbage (\n"
                  "MASQUERADE_AS(`a.example #b')dnl\n"
                  "define(`confDEF_USER_ID', ``0:0'')dnl\n")
    r = run(str(mc), check=True)
    err = r.stderr
    for line, text in [
            (2, "the call does not end (unbalanced quote or parenthesis)"),
            (3, "FEATURE(nosuchfeature): no postern equivalent"),
            (4, "includes are not followed: translate /etc/mail/local.m4"),
            (5, "LOCAL_CONFIG: not a macro call"),
            (6, "cannot read this line as a macro call"),
            (7, "\"many\" is not a number"),
            (8, "Addr=mail.example.com is not an IP address"),
            (10, "a missing comma between options read as one"),
            (11, "a NUL byte: not a text line"),
            (12, "a # after a blank starts a comment"),
            (13, "root is 0: not mapped; default_privs must name an "
             "unprivileged user")]:
        assert re.search(r"bad\.mc:%d: .*%s" % (line, re.escape(text)),
                         err), (line, text, err)
    got = keys(r.stdout)
    assert got[(None, "queue_lifetime")] == "60h"
    assert got[("smtp", "listen")] == "192.168.0.1:25"
    assert (None, "masquerade_as") not in got
    assert (None, "default_privs") not in got
    # an .mc too large is refused before anything is written
    big = tmp_path / "big.mc"
    big.write_bytes(b"dnl x\n" * 200000)
    r = run(str(big), "-o", str(tmp_path / "o2"))
    assert r.returncode == 1 and "at most 1 MiB" in r.stderr
    assert not (tmp_path / "o2" / "postern.conf").exists()


# ---- on the wire: seed 002 as an admin applies it ----------------------

SASL_DIR = "/etc/sasl2"
PASSWORD = "Imp0rt-%s" % uuid.uuid4().hex[:8]


def connect_from(src, port):
    """An SMTP client whose source address is src (127.0.0.0/8)."""
    return smtplib.SMTP("127.0.0.1", port, timeout=20,
                        source_address=(src, 0))


class Imported:
    """A postern started from import-mc's output for a seed: only the
    test's paths, ports, identity, DNS server and SASL app are added;
    the imported mailbox is replaced by the test's (TEST_SETS). A sasldb
    user alice for the app."""

    def __init__(self, tmp_path, make_postern, dns, seed):
        self.p = p = make_postern(start=False)
        d = copy_seed(tmp_path, seed)
        self.out = out = tmp_path.__class__(p.base) / "imported"
        run(str(d / "sendmail.mc"), "-o", str(out), check=True)
        self.conf = (out / "postern.conf").read_text()
        self.app = "pstimc%s" % uuid.uuid4().hex[:8]
        sasldb = os.path.join(p.base, "etc", "sasldb2")
        self.app_conf = os.path.join(SASL_DIR, self.app + ".conf")
        os.makedirs(SASL_DIR, exist_ok=True)
        with open(self.app_conf, "w") as f:
            f.write("pwcheck_method: auxprop\nauxprop_plugin: sasldb\n"
                    "sasldb_path: %s\nmech_list: PLAIN LOGIN CRAM-MD5 "
                    "DIGEST-MD5\n" % sasldb)
        subprocess.run(["saslpasswd2", "-c", "-p", "-f", sasldb, "-a",
                        self.app, "-u", "mx.test.example", "alice"],
                       input=PASSWORD + "\n", text=True, check=True,
                       capture_output=True)
        nobody = pwd.getpwnam("nobody")
        os.chown(sasldb, nobody.pw_uid, nobody.pw_gid)
        test_lines = ("hostname = mx.test.example\nqueue_dir = %s\n"
                      "log = %s\nlog_level = debug\nuser = nobody\n"
                      "group = nogroup\nmailbox = mbox:%s/%%u\n"
                      "dns_servers = %s\nremote_port = %d\nsasl_app = %s\n"
                      "cleanup_processes = 2\nlocal_processes = 2\n"
                      "remote_processes = 2\n" % (
                          p.queue, p.logfile, p.mail, dns.spec,
                          p.smarthost_port, self.app))
        text = strip_test_keys(self.conf)
        text = text.replace("listen = 0.0.0.0:25",
                            "listen = 127.0.0.1:%d" % p.port)
        text = text.replace("listen = 0.0.0.0:587",
                            "listen = 127.0.0.1:%d" % p.sub_port)
        with open(p.conf, "w") as f:
            f.write(test_lines + text)

    def cleanup(self):
        try:
            os.unlink(self.app_conf)
        except FileNotFoundError:
            pass


@pytest.fixture
def imported(tmp_path, make_postern, dns):
    made = []

    def make(seed):
        i = Imported(tmp_path, make_postern, dns, seed)
        made.append(i)
        return i
    yield make
    for i in made:
        i.cleanup()


def relay_attempt(port, src, sender="sender@good.pt.example",
                  rcpt="friend@mx.pt.example", login=False):
    c = connect_from(src, port)
    c.ehlo("client.example")
    if login:
        c.login("alice", PASSWORD)
    assert c.mail(sender)[0] == 250
    code, msg = c.rcpt(rcpt)
    c.quit()
    return code, msg


ROOT_ONLY = pytest.mark.skipif(not IS_ROOT, reason="needs root: "
                               "/etc/sasl2/APP.conf and workers as nobody")


@ROOT_ONLY
def test_seed002_on_the_wire(imported, peer_factory):
    i = imported("seed002-applied")
    p, got = i.p, keys(i.conf)
    assert got[("submission", "auth")] == "required"
    assert got[(None, "masquerade_as")] == "midominio.com.mx"
    assert got[(None, "local_domains")] == str(i.out / "local-host-names")
    peer = peer_factory(p.smarthost_port)
    p.start()
    wait_for(lambda: p.port_open(p.sub_port), what="587")

    # Connect:127.0.0.1 RELAY (the seed's access file): relayed
    c = connect_from("127.0.0.1", p.port)
    c.ehlo("client.example")
    assert c.mail("sender@good.pt.example")[0] == 250
    code, msg = c.rcpt("friend@mx.pt.example")
    assert code == 250, msg
    code, msg = c.data(b"Subject: imported\r\n\r\nrelayed by seed 002\r\n")
    assert code == 250, msg
    # max_recipients = 10: the 11th RCPT gets 452
    c.mail("sender@good.pt.example")
    for n in range(10):
        assert c.rcpt("r%d@mx.pt.example" % n)[0] == 250
    code, msg = c.rcpt("r10@mx.pt.example")
    assert code == 452 and b"4.5.3" in msg, msg
    c.quit()
    wait_for(lambda: peer.messages, what="relayed message")
    assert b"relayed by seed 002" in peer.messages[0][2]

    # a client the access file does not name: 550 5.7.1
    code, msg = relay_attempt(p.port, "127.0.0.3")
    assert code == 550 and b"5.7.1" in msg, msg

    # 587 (M=Ea): AUTH required; no PLAIN/LOGIN before TLS (A p)
    c = connect_from("127.0.0.3", p.sub_port)
    c.ehlo("stranger.example")
    mechs = c.esmtp_features.get("auth", "").split()
    assert "CRAM-MD5" in mechs and "PLAIN" not in mechs, mechs
    code, msg = c.mail("alice@good.pt.example")
    assert code == 530, msg
    c.quit()
    code, msg = relay_attempt(p.sub_port, "127.0.0.3", login=True)
    assert code == 250, msg


@ROOT_ONLY
def test_seed003_on_the_wire(imported):
    """Seed 003: no Connect: line for 127.0.0.1 in its access file, AUTH
    on port 25 for the hosts the access file does not name ("Si se desea
    utilizar SMTP autenticado para equipos no incluidos dentro de
    /etc/mail/access"), no 587 (no_default_msa), delay_checks."""
    i = imported("seed003")
    p, got = i.p, keys(i.conf)
    assert ("submission", "listen") not in got
    p.start()
    code, msg = relay_attempt(p.port, "127.0.0.1")
    assert code == 550 and b"5.7.1" in msg, msg
    c = connect_from("127.0.0.1", p.port)
    c.ehlo("client.example")
    mechs = c.esmtp_features.get("auth", "").split()
    assert sorted(mechs) == ["CRAM-MD5", "DIGEST-MD5"], mechs
    c.quit()
    code, msg = relay_attempt(p.port, "127.0.0.1", login=True)
    assert code == 250, msg
    assert not p.port_open(p.sub_port)
