"""RFC 3461 (DSN) conformance table, run by conformance.py against
postern and a private Postfix: the §4 parameters of MAIL (RET, ENVID)
and RCPT (NOTIFY, ORCPT), their xtext syntax and bounds, and what a
malformed or repeated one gets (501 5.5.4)."""

import pytest

from conformance import LOCAL, Row, delivered, message, params, run
from conformance import postern_mta, postfix_mta  # noqa: F401 (fixtures)

F = "DSN"
SYNTAX = "501 5.5.4"


def mail(params_, want):
    return ("MAIL FROM:<a@client.example> %s\r\n" % params_, [want])


def rcpt(params_, want, to=LOCAL):
    """MAIL (plain) then RCPT with params_."""
    return ("MAIL FROM:<a@client.example>\r\nRCPT TO:<%s> %s\r\n" % (
        to, params_), ["250", want])


ROWS = [
    # §4.3 RET
    Row("ret_full", "3461 §4.3", [mail("RET=FULL", "250")], feature=F),
    Row("ret_hdrs", "3461 §4.3", [mail("RET=HDRS", "250")], feature=F),
    Row("ret_lower_case", "3461 §4.3", [mail("ret=hdrs", "250")],
        feature=F),
    Row("ret_bad", "3461 §4.3", [mail("RET=BODY", SYNTAX)], feature=F),
    Row("ret_twice", "3461 §4.3", [mail("RET=FULL RET=HDRS", SYNTAX)],
        feature=F),
    Row("ret_on_rcpt", "3461 §4.3 / 5321 §4.1.1.11",
        [rcpt("RET=FULL", "555|501 5.5.4")], feature=F),
    # §4.4 ENVID
    Row("envid", "3461 §4.4", [mail("ENVID=pstcf+2Bid.1", "250")],
        feature=F),
    Row("envid_100", "3461 §4.4", [mail("ENVID=" + "e" * 100, "250")],
        feature=F),
    Row("envid_101", "3461 §4.4", [mail("ENVID=" + "e" * 101, SYNTAX)],
        feature=F, postfix="Postfix takes any ENVID length; RFC 3461 §4.4 "
        "bounds it at 100 characters and issue 15 asks for 501 5.5.4"),
    Row("envid_bad_xtext", "3461 §4 xtext", [
        mail("ENVID=a+ZZ", SYNTAX), mail("ENVID=a+4", SYNTAX)], feature=F),
    Row("envid_twice", "3461 §4.4", [mail("ENVID=a ENVID=b", SYNTAX)],
        feature=F),
    # §4.1 NOTIFY
    Row("notify_each", "3461 §4.1", [
        ("MAIL FROM:<a@client.example>\r\n"
         "RCPT TO:<n1@relayed.example> NOTIFY=SUCCESS\r\n"
         "RCPT TO:<n2@relayed.example> NOTIFY=FAILURE\r\n"
         "RCPT TO:<n3@relayed.example> NOTIFY=DELAY\r\n"
         "RCPT TO:<n4@relayed.example> NOTIFY=NEVER\r\n"
         "RCPT TO:<n5@relayed.example> NOTIFY=success,failure,delay\r\n",
         ["250"] * 6), ("RSET\r\n", ["250"])], feature=F),
    Row("notify_never_with_other", "3461 §4.1", [
        rcpt("NOTIFY=NEVER,SUCCESS", SYNTAX), ("RSET\r\n", ["250"]),
        rcpt("NOTIFY=FAILURE,NEVER", SYNTAX)], feature=F),
    Row("notify_bad", "3461 §4.1", [rcpt("NOTIFY=SOMETIMES", SYNTAX)],
        feature=F),
    Row("notify_empty", "3461 §4.1", [rcpt("NOTIFY=", SYNTAX)], feature=F),
    Row("notify_twice", "3461 §4.1", [
        rcpt("NOTIFY=SUCCESS NOTIFY=FAILURE", SYNTAX)], feature=F),
    Row("notify_on_mail", "3461 §4.1 / 5321 §4.1.1.11",
        [mail("NOTIFY=SUCCESS", "555|501 5.5.4")], feature=F),
    # §4.2 ORCPT
    Row("orcpt", "3461 §4.2", [
        rcpt("ORCPT=rfc822;pstcf@orig.example", "250")], feature=F),
    Row("orcpt_xtext", "3461 §4.2", [
        rcpt("ORCPT=rfc822;pstcf+2Bext+3Dx@orig.example", "250")],
        feature=F),
    Row("orcpt_without_type", "3461 §4.2", [
        rcpt("ORCPT=pstcf@orig.example", SYNTAX)], feature=F),
    Row("orcpt_bad_xtext", "3461 §4.2", [
        rcpt("ORCPT=rfc822;a+ZZ@orig.example", SYNTAX)], feature=F),
    Row("orcpt_twice", "3461 §4.2", [
        rcpt("ORCPT=rfc822;a@o.example ORCPT=rfc822;b@o.example", SYNTAX)],
        feature=F),
    # all of them on one message, delivered
    Row("dsn_message", "3461 §4", [
        ("MAIL FROM:<a@client.example> RET=HDRS ENVID=pstcf-env\r\n"
         "RCPT TO:<%s> NOTIFY=FAILURE,DELAY ORCPT=rfc822;%s\r\n" % (
             LOCAL, LOCAL), ["250", "250"]),
        ("DATA\r\n", ["354"]),
        (message("with dsn\r\n") + "\r\n.\r\n", ["250"])], feature=F,
        check=delivered(b"with dsn")),
]


@pytest.mark.parametrize("row,mta", params(ROWS))
def test_rfc3461(row, mta, request):
    run(row, mta, request)
