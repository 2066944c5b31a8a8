"""RFC 3030 (CHUNKING) conformance table, run by conformance.py against
postern and a private Postfix: BDAT chunks (§2), their replies (§4),
BDAT and DATA not mixed in one transaction, BDAT 0 LAST, chunks over
the size limit, a chunk refused still read whole, and a chunk cut short
leaving nothing queued."""

import pytest

from conformance import (SIZE_LIMIT, Row, bdat, delivered, message, not_delivered,
                         params, run, txn)
from conformance import postern_mta, postfix_mta  # noqa: F401 (fixtures)

F = "CHUNKING"


MSG = message("chunked body\r\n")
BIG = "Subject: {M}\r\n\r\n" + \
    ("z" * 998 + "\r\n") * (SIZE_LIMIT // 1000 + 50)

ROWS = [
    Row("bdat_last", "3030 §2", [
        txn(), (bdat(MSG), ["250"])], feature=F,
        check=delivered(b"chunked body")),
    Row("bdat_chunks_pipelined", "3030 §2 / §4.2", [
        txn(), (bdat("Subject: {M}\r\n\r\nfirst ", last=False) +
                bdat("second\r\n"), ["250", "250"])], feature=F,
        check=delivered(b"first second")),
    Row("bdat_then_0_last", "3030 §2", [
        txn(), (bdat(MSG, last=False), ["250"]),
        ("BDAT 0 LAST\r\n", ["250"])], feature=F,
        check=delivered(b"chunked body")),
    Row("bdat_no_dot_stuffing", "3030 §2", [
        txn(), (bdat("Subject: {M}\r\n\r\n..two\r\n.\r\nafter dot\r\n"),
                ["250"])], feature=F,
        check=delivered(b"\n..two\n.\nafter dot")),
    Row("bdat_pipelined_with_mail", "3030 §4.2", [
        (b"MAIL FROM:<a@client.example>\r\nRCPT TO:<pstalice@test.example>"
         b"\r\n" + bdat(MSG), ["250", "250", "250"])], feature=F,
        check=delivered(b"chunked body")),
    Row("bdat_without_mail", "3030 §2", [
        (bdat("RSET\r\n"), ["503"]), ("NOOP\r\n", ["250"])], feature=F),
    Row("bdat_without_rcpt", "3030 §2", [
        ("MAIL FROM:<a@client.example>\r\n", ["250"]),
        (bdat("RSET\r\n"), ["503|554"]), ("NOOP\r\n", ["250"])], feature=F),
    Row("data_after_bdat", "3030 §2", [
        txn(), (bdat(MSG, last=False), ["250"]), ("DATA\r\n", ["503"]),
        ("RSET\r\n", ["250"])], feature=F, check=not_delivered()),
    # A size that does not parse leaves no way to find the next command:
    # the server may end the session (Postfix: 521) or go on (501).
    Row("bdat_bad_size", "3030 §2", [
        txn(), ("BDAT ten\r\n", ["501|521 5.5.4"])], feature=F,
        quit=False),
    Row("bdat_0_last_only", "3030 §2", [
        txn(), ("BDAT 0 LAST\r\n", ["250"])], feature=F),
    Row("bdat_over_size_limit", "3030 §4 / 1870", [
        txn(), (bdat(BIG), ["552 5.3.4"]), ("NOOP\r\n", ["250"])],
        feature=F, check=not_delivered()),
    Row("bdat_over_size_across_chunks", "3030 §4 / 1870", [
        txn(), (bdat(BIG[:SIZE_LIMIT // 2], last=False) +
                bdat(BIG[SIZE_LIMIT // 2:]), ["250|552", "552 5.3.4"]),
        ("RSET\r\n", ["250"])], feature=F, check=not_delivered()),
    Row("bdat_rset_drops_message", "3030 §2 / 5321 §4.1.1.5", [
        txn(), (bdat(MSG, last=False), ["250"]), ("RSET\r\n", ["250"]),
        txn(), ("DATA\r\n", ["354"]),
        (message("after rset\r\n") + "\r\n.\r\n", ["250"])], feature=F,
        check=delivered(b"after rset")),
    Row("bdat_next_transaction", "3030 §2", [
        txn(), (bdat(MSG), ["250"]), txn(), (bdat(MSG), ["250"])],
        feature=F, check=delivered(b"chunked body")),
    Row("bdat_chunk_cut_short", "3030 §4", [
        txn(), (b"BDAT 5000 LAST\r\nSubject: {M}\r\n\r\nonly part", [])],
        feature=F, quit=False, check=not_delivered()),
]


@pytest.mark.parametrize("row,mta", params(ROWS))
def test_rfc3030(row, mta, request):
    run(row, mta, request)
