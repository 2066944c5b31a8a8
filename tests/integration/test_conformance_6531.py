"""RFC 6531 (SMTPUTF8) conformance table, run by conformance.py against
postern and a private Postfix (smtputf8_enable = yes): the §3.4 MAIL
parameter, UTF-8 addresses with it, an address that needs it without it
(553 5.6.7, §3.5 and RFC 5248's X.6.7), and input that is not UTF-8."""

import pytest

from conformance import LOCAL, Row, delivered, params, run
from conformance import postern_mta, postfix_mta  # noqa: F401 (fixtures)

F = "SMTPUTF8"
NEEDS = "553 5.6.7"
UTF8_MSG = ("Subject: {M}\r\nFrom: Pelé <pelé@client.example>\r\n\r\n"
            "ünïcödé body\r\n.\r\n")

ROWS = [
    Row("utf8_sender_with_smtputf8", "6531 §3.4", [
        ("MAIL FROM:<pelé@client.example> SMTPUTF8\r\n"
         "RCPT TO:<%s>\r\nDATA\r\n" % LOCAL, ["250", "250", "354"]),
        (UTF8_MSG, ["250"])], feature=F,
        check=delivered("ünïcödé body".encode())),
    Row("utf8_recipient_with_smtputf8", "6531 §3.4", [
        ("MAIL FROM:<a@client.example> SMTPUTF8\r\n"
         "RCPT TO:<josé@relayed.example>\r\n"
         "RCPT TO:<a@bücher.example>\r\n", ["250", "250", "250"]),
        ("RSET\r\n", ["250"])], feature=F),
    Row("smtputf8_with_8bitmime", "6531 §3.4", [
        ("MAIL FROM:<a@client.example> SMTPUTF8 BODY=8BITMIME\r\n",
         ["250"])], feature=F),
    Row("smtputf8_lower_case", "6531 §3.4 / 5321 §2.4", [
        ("MAIL FROM:<pelé@client.example> smtputf8\r\n", ["250"])],
        feature=F),
    Row("utf8_sender_without_smtputf8", "6531 §3.5", [
        ("MAIL FROM:<pelé@client.example>\r\n", [NEEDS]),
        ("MAIL FROM:<a@client.example>\r\n", ["250"])], feature=F),
    Row("utf8_recipient_without_smtputf8", "6531 §3.5", [
        ("MAIL FROM:<a@client.example>\r\n", ["250"]),
        ("RCPT TO:<josé@relayed.example>\r\n", [NEEDS]),
        ("RCPT TO:<%s>\r\n" % LOCAL, ["250"])], feature=F),
    Row("utf8_domain_without_smtputf8", "6531 §3.5", [
        ("MAIL FROM:<a@client.example>\r\n", ["250"]),
        ("RCPT TO:<a@bücher.example>\r\n", [NEEDS])], feature=F,
        postfix="Postfix 3.7 calls a U-label domain without SMTPUTF8 a "
        "syntax error (501 5.1.3); RFC 6531 §3.5 names 553 5.6.7 for any "
        "non-ASCII address"),
    # RFC 6531 names no code for input that is not UTF-8: any 5xx, and
    # the session goes on.
    Row("invalid_utf8_truncated", "6531 §3.3", [
        (b"MAIL FROM:<p\xc3@client.example> SMTPUTF8\r\n", ["5"]),
        ("MAIL FROM:<a@client.example>\r\n", ["250"])], feature=F),
    Row("invalid_utf8_overlong", "6531 §3.3", [
        (b"MAIL FROM:<a@client.example> SMTPUTF8\r\n", ["250"]),
        (b"RCPT TO:<\xc0\xafetc@relayed.example>\r\n", ["5"]),
        (b"RCPT TO:<a@b\xffad.example>\r\n", ["5"]),
        ("RCPT TO:<%s>\r\n" % LOCAL, ["250"])], feature=F),
]


@pytest.mark.parametrize("row,mta", params(ROWS))
def test_rfc6531(row, mta, request):
    run(row, mta, request)
