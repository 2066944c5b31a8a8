"""RFC 5321 conformance table (conformance.py runs each row against
postern and a private Postfix): the §4.5.3.1 size minimums, §4.1.1.4
DATA, §4.1.4 command order, §3.3 RSET, §4.1.1.1 EHLO/HELO syntax; and
the retry schedule seen on the wire (§4.5.4.1, min_backoff)."""

import threading
import time

import pytest

from conformance import (ALICE, LOCAL, SIZE_LIMIT, Row, delivered, message,
                         not_delivered, params, run, txn)
from conformance import postern_mta, postfix_mta  # noqa: F401 (fixtures)
from conftest import wait_for

RELAY = "pstcf@relayed.example"         # relayed by both (client is trusted)
LOCAL64 = "l" * 64
DOM189 = "d" * 63 + "." + "e" * 63 + "." + "f" * 53 + ".example"  # 189
DOM255 = ".".join(["h" * 63] * 4)                              # 255
DATA_OK = ("DATA\r\n", ["354"])
BARE_LF = "the postern SPEC: bare LF/CR in data is 554 5.6.0 (no smuggling); " \
    "Postfix 3.7 takes LF as a line end by default"


def end(body, want="250"):
    """The message and its end, one write."""
    return (message(body) + "\r\n.\r\n", [want])


assert len(DOM189) == 189 and len(DOM255) == 255
assert len("<%s@%s>" % (LOCAL64, DOM189)) == 256

ROWS = [
    # --- §4.5.3.1: the sizes a server must take at least ---------------
    Row("local_part_64", "4.5.3.1.1", [
        ("MAIL FROM:<%s@client.example>\r\n" % LOCAL64, ["250"]),
        ("RCPT TO:<%s@relayed.example>\r\n" % LOCAL64, ["250"])]),
    Row("local_part_65_refused", "4.5.3.1.1", [
        ("MAIL FROM:<%s@client.example>\r\n" % ("l" * 65), ["553 5.1.3"])],
        postfix="postern bounds a local part at the RFC's 64 octets "
        "(553 5.1.3); Postfix takes longer ones"),
    Row("domain_255_in_ehlo", "4.5.3.1.2", [
        ("EHLO %s\r\n" % DOM255, ["250"])], ehlo=False),
    Row("path_256", "4.5.3.1.3", [
        ("MAIL FROM:<%s@%s>\r\n" % (LOCAL64, DOM189), ["250"]),
        ("RCPT TO:<%s@%s>\r\n" % (LOCAL64, DOM189), ["250"])]),
    Row("command_line_512", "4.5.3.1.4", [
        ("NOOP %s\r\n" % ("n" * 505), ["250"])]),
    Row("command_line_over_1000", "4.5.3.1.4", [
        ("NOOP %s\r\n" % ("n" * 2000), ["500"]),
        ("NOOP\r\n", ["250"])],
        postfix="the postern SPEC: a command line over 1000 octets is "
        "500 5.5.2; Postfix reads up to line_length_limit (2048)"),
    Row("text_line_1000", "4.5.3.1.6", [
        txn(), DATA_OK, end("x\r\n" + "y" * 998)],
        check=delivered(b"\n" + b"y" * 998 + b"\n")),
    Row("text_line_1000_dot_stuffed", "4.5.3.1.6 / 4.5.2", [
        txn(), DATA_OK, end("x\r\n.." + "y" * 997)],
        check=delivered(b"\n." + b"y" * 997 + b"\n")),
    Row("text_line_1001_dot_stuffed_refused", "4.5.3.1.6", [
        txn(), DATA_OK, end("x\r\n.." + "y" * 998, "552 5.6.0")],
        postfix="the postern SPEC: a data line over 1000 octets refuses "
        "the message (552 5.6.0); Postfix splits it",
        check=not_delivered()),
    Row("command_line_1000", "4.5.3.1.4", [
        ("NOOP %s\r\n" % ("n" * 993), ["250"])]),
    Row("data_over_size_limit", "1870 §6.3", [
        txn(), DATA_OK,
        end(("s" * 98 + "\r\n") * (SIZE_LIMIT // 100 + 10), "552 5.3.4"),
        ("NOOP\r\n", ["250"])], check=not_delivered()),
    Row("text_line_1001_refused", "4.5.3.1.6", [
        txn(), DATA_OK, end("x\r\n" + "y" * 999, "552 5.6.0")],
        postfix="the postern SPEC: a data line over 1000 octets refuses "
        "the message (552 5.6.0); Postfix splits it",
        check=not_delivered()),
    Row("recipients_100", "4.5.3.1.8", [
        txn(["pstcf-%d@relayed.example" % i for i in range(100)]),
        ("RCPT TO:<pstcf-100@relayed.example>\r\n", ["452 4.5.3"]),
        ("RSET\r\n", ["250"])]),
    Row("mail_size_over_limit", "1870 §6.1", [
        ("MAIL FROM:<a@client.example> SIZE=%d\r\n" % (SIZE_LIMIT + 1),
         ["552 5.3.4"]),
        ("MAIL FROM:<a@client.example> SIZE=%d\r\n" % SIZE_LIMIT, ["250"])]),
    Row("reply_line_512_with_long_address", "4.5.3.1.5", [
        ("MAIL FROM:<%s@client.example>\r\n" % LOCAL64, ["250"]),
        ("RCPT TO:<%s@test.example>\r\n" % LOCAL64, ["550 5.1.1"])]),

    # --- §4.1.1.4 DATA -------------------------------------------------
    Row("data_354_and_250", "4.1.1.4", [
        txn(), DATA_OK, end("hello\r\n")], check=delivered(b"hello")),
    Row("data_pipelined", "4.1.1.4 / 2920", [
        ("MAIL FROM:<a@client.example>\r\nRCPT TO:<%s>\r\nDATA\r\n" % LOCAL,
         ["250", "250", "354"]), end("piped\r\n")],
        check=delivered(b"piped")),
    Row("data_dot_stuffing", "4.5.2", [
        txn(), DATA_OK, end("..one dot\r\n...two dots\r\n. \r\n")],
        check=delivered(b"\n.one dot\n", b"\n..two dots\n", b"\n \n")),
    Row("data_end_split_across_writes", "4.1.1.4", [
        txn(), DATA_OK, (message("split\r\n."), []), ("\r\n", ["250"])],
        check=delivered(b"split")),
    Row("data_crlf_split_across_writes", "4.1.1.4", [
        txn(), DATA_OK, (message("split cr\r"), []),
        ("\n.\r\n", ["250"])], check=delivered(b"split cr")),
    Row("data_pipelined_next_transaction", "2920 §3.1", [
        txn(), DATA_OK,
        (message("first\r\n") + "\r\n.\r\nMAIL FROM:<b@client.example>\r\n"
         "RCPT TO:<%s>\r\nDATA\r\n" % LOCAL, ["250", "250", "250", "354"]),
        (message("second\r\n") + "\r\n.\r\nQUIT\r\n", ["250", "221"]),
        (None, ["EOF"])], quit=False, check=delivered(b"second")),
    Row("data_dot_dot_line", "4.5.2", [
        txn(), DATA_OK, end("above\r\n..\r\nbelow")],
        check=delivered(b"above\n.\nbelow")),
    Row("data_empty_message", "4.1.1.4", [
        txn(), DATA_OK, (".\r\n", ["250"])]),
    Row("data_only_crlf_dot_crlf_ends", "4.1.1.4", [
        txn(), DATA_OK,
        (message("a\n.\nMAIL FROM:<smuggled@client.example>\n"), []),
        ("\r\n.\r\n", ["554 5.6.0"])],
        postfix=BARE_LF, check=not_delivered()),
    Row("data_bare_lf_refused", "4.1.1.4", [
        txn(), DATA_OK, end("a\nb", "554 5.6.0")], postfix=BARE_LF,
        check=not_delivered()),
    Row("data_bare_cr_refused", "4.1.1.4", [
        txn(), DATA_OK, end("a\rb", "554 5.6.0")], postfix=BARE_LF,
        check=not_delivered()),
    Row("data_without_mail", "4.1.1.4 / 3.3", [("DATA\r\n", ["503"])]),
    Row("data_without_rcpt", "3.3", [
        ("MAIL FROM:<a@client.example>\r\n", ["250"]),
        ("DATA\r\n", ["503|554"])]),
    Row("data_all_rcpts_refused", "3.3", [
        ("MAIL FROM:<a@client.example>\r\n", ["250"]),
        ("RCPT TO:<pstcf-nosuchuser@test.example>\r\n", ["550 5.1.1"]),
        ("DATA\r\n", ["503|554"])]),
    Row("data_pipelined_after_refused_rcpt", "2920 §3.1", [
        ("MAIL FROM:<a@client.example>\r\n"
         "RCPT TO:<pstcf-nosuchuser@test.example>\r\nDATA\r\n",
         ["250", "550 5.1.1", "503|554"]),
        ("NOOP\r\n", ["250"])]),
    Row("data_with_argument", "4.1.1.4", [
        txn(), ("DATA now\r\n", ["501"]), ("RSET\r\n", ["250"])]),

    # --- §4.1.4 order of commands, §3.3 RSET --------------------------
    Row("mail_before_ehlo", "4.1.4", [
        ("MAIL FROM:<a@client.example>\r\n", ["503"])], ehlo=False),
    Row("noop_rset_before_ehlo", "4.1.4", [
        ("NOOP\r\n", ["250"]), ("RSET\r\n", ["250"])], ehlo=False),
    Row("rcpt_before_mail", "4.1.4", [
        ("RCPT TO:<%s>\r\n" % LOCAL, ["503"])]),
    Row("nested_mail", "4.1.4", [
        ("MAIL FROM:<a@client.example>\r\n", ["250"]),
        ("MAIL FROM:<b@client.example>\r\n", ["503"])]),
    Row("ehlo_resets_transaction", "4.1.4", [
        txn(), ("EHLO again.client.example\r\n", ["250"]),
        ("DATA\r\n", ["503|554"]),
        ("MAIL FROM:<a@client.example>\r\n", ["250"])]),
    Row("rset_clears_transaction", "3.3 / 4.1.1.5", [
        txn(), ("RSET\r\n", ["250"]), ("DATA\r\n", ["503|554"]),
        ("MAIL FROM:<a@client.example>\r\n", ["250"])]),
    Row("rset_takes_no_argument", "4.1.1.5", [
        ("RSET now\r\n", ["501"])]),
    Row("null_reverse_path", "4.5.5", [
        txn(sender=""), DATA_OK, end("bounce-like\r\n")],
        check=delivered(b"bounce-like")),
    Row("postmaster_without_domain", "4.5.1 / 4.1.1.3", [
        txn(["Postmaster"]), DATA_OK, end("to postmaster\r\n")],
        check=delivered(b"to postmaster")),
    Row("source_route_ignored", "4.1.1.3 / C", [
        txn(["@a.client.example,@b.client.example:" + LOCAL]), DATA_OK,
        end("routed\r\n")], check=delivered(b"routed")),
    Row("quoted_local_part", "4.1.2", [
        txn(sender='"pstcf sender"@client.example'), DATA_OK,
        end("quoted\r\n")], check=delivered(b"quoted")),
    Row("unknown_mail_parameter", "4.1.1.11", [
        ("MAIL FROM:<a@client.example> FOO=bar\r\n", ["555"]),
        ("MAIL FROM:<a@client.example>\r\nRCPT TO:<%s> FOO=bar\r\n" %
         LOCAL, ["250", "555"])]),
    Row("size_parameter_syntax", "1870 §6", [
        ("MAIL FROM:<a@client.example> SIZE=abc\r\n", ["501 5.5.4"]),
        ("MAIL FROM:<a@client.example> SIZE=100\r\n", ["250"])]),
    Row("body_parameter", "6152 §2", [
        ("MAIL FROM:<a@client.example> BODY=FOO\r\n", ["501|555 5.5.4"]),
        ("MAIL FROM:<a@client.example> BODY=8BITMIME\r\n", ["250"]),
        ("RCPT TO:<%s>\r\n" % LOCAL, ["250"]), DATA_OK,
        end("caf\u00e9 8bit\r\n")],
        check=delivered("caf\u00e9 8bit".encode())),
    Row("rcpt_null_path_refused", "4.1.1.3", [
        ("MAIL FROM:<a@client.example>\r\n", ["250"]),
        ("RCPT TO:<>\r\n", ["501|550|553"]),
        ("RCPT TO:<%s\r\n" % LOCAL, ["501|553"]),
        ("RCPT TO:<%s>\r\n" % LOCAL, ["250"])]),
    Row("pipelined_noop_50", "2920 §3.1", [
        ("NOOP\r\n" * 50, ["250"] * 50)]),
    Row("starttls_takes_no_argument", "3207 §4", [
        ("STARTTLS now\r\n", ["501"])]),
    Row("vrfy_implemented", "4.5.1 / 3.5.3", [
        ("VRFY %s\r\n" % ALICE, ["250|251|252"])]),
    Row("quit_closes", "4.1.1.10", [
        ("QUIT\r\n", ["221"]), (None, ["EOF"])], quit=False),
    Row("unknown_command", "4.2.4", [("FROB x\r\n", ["500|502"])]),
    Row("verbs_any_case", "2.4", [
        ("mail from:<a@client.example>\r\nrCpT To:<%s>\r\n" % LOCAL,
         ["250", "250"]), ("rset\r\n", ["250"])]),

    # --- §4.1.1.1 EHLO / HELO -----------------------------------------
    Row("ehlo_keywords_multiline", "4.1.1.1", [
        ("EHLO a.client.example\r\n", ["250"])]),
    Row("helo_session", "4.1.1.1", [
        txn(), DATA_OK, end("via helo\r\n")], ehlo="HELO",
        check=delivered(b"via helo")),
    Row("ehlo_without_domain", "4.1.1.1", [
        ("EHLO\r\n", ["501"])], ehlo=False),
    Row("helo_without_domain", "4.1.1.1", [
        ("HELO\r\n", ["501"])], ehlo=False),
    Row("ehlo_address_literal", "4.1.3", [
        ("EHLO [127.0.0.1]\r\n", ["250"]),
        ("EHLO [IPv6:::1]\r\n", ["250"])], ehlo=False),
    Row("ehlo_twice", "4.1.4", [
        ("EHLO a.client.example\r\n", ["250"]),
        ("HELO b.client.example\r\n", ["250"])]),
]


@pytest.mark.parametrize("row,mta", params(ROWS))
def test_rfc5321(row, mta, request):
    run(row, mta, request)


def test_ehlo_reply_is_well_formed(postern_mta):
    """§4.1.1.1: 250-domain then one keyword per line, last "250 "."""
    from conformance import Client
    c = Client(postern_mta.port)
    try:
        assert c.reply()[0] == 220
        c.send("EHLO a.client.example\r\n")
        code, lines = c.reply()
        assert code == 250 and len(lines) > 1
        assert all(ln.split()[0].isupper() for ln in lines[1:]), lines
        assert "PIPELINING" in lines and "8BITMIME" in lines, lines
        assert any(ln.startswith("SIZE ") for ln in lines), lines
    finally:
        c.close()


# --- §4.5.4.1 retry: seen on the wire, never before min_backoff --------

def test_retry_not_before_min_backoff_on_the_wire(make_postern, users):
    """The next hop answers 451 to the first RCPT: the second attempt
    arrives at the peer no sooner than min_backoff (3 s) after the first
    (next try is kept in whole seconds: 1 s of rounding allowed)."""
    from aiosmtpd.controller import Controller
    p = make_postern(extra="min_backoff = 3s\nmax_backoff = 6s\n",
                     start=False)
    seen = []
    lock = threading.Lock()

    class Handler:
        async def handle_RCPT(self, server, session, envelope, address,
                              options):
            with lock:
                seen.append(time.time())
                first = len(seen) == 1
            if first:
                return "451 4.3.0 pstcf: try again later"
            envelope.rcpt_tos.append(address)
            return "250 OK"

        async def handle_DATA(self, server, session, envelope):
            return "250 2.0.0 Ok"

    ctl = Controller(Handler(), hostname="127.0.0.2",
                     port=p.smarthost_port)
    ctl.start()
    try:
        p.start()
        import smtplib
        s = smtplib.SMTP("127.0.0.1", p.port, timeout=30)
        s.sendmail("a@client.example", ["r@remote.example"],
                   "Subject: retry\r\n\r\nretry\r\n")
        s.quit()
        wait_for(lambda: len(seen) >= 2, timeout=60, what="the retry")
        gap = seen[1] - seen[0]
        assert gap >= 3 - 1, gap
        wait_for(p.queue_empty, what="delivered after the retry")
    finally:
        ctl.stop()
