"""Pure helpers of the Redfish client: URLs, ETag quoting, Redfish error messages."""

from __future__ import annotations

from anyrack.bmc.redfish.client import _requote, _retry_after, redfish_message
from anyrack.bmc.redfish.controller import http_base
from anyrack.bmc.redfish.inventory import known, mac


def test_http_base() -> None:
    assert http_base("redfish+https://10.0.0.5") == "https://10.0.0.5"
    assert http_base("redfish+http://127.0.0.1:8001?profile=dell") == "http://127.0.0.1:8001"


def test_requote() -> None:
    assert _requote('"abc"') == "abc"
    assert _requote("abc") == '"abc"'
    assert _requote('W/"abc"') == "W/abc"
    assert _requote("W/abc") == 'W/"abc"'


def test_retry_after() -> None:
    assert _retry_after("3", 0.5) == 3.0
    assert _retry_after("999", 0.5) == 60.0
    assert _retry_after("Wed, 21 Oct 2015 07:28:00 GMT", 0.5) == 0.5
    assert _retry_after(None, 0.7) == 0.7


def test_redfish_message() -> None:
    body = {"error": {"code": "Base.1.8.GeneralError", "message": "A general error has occurred.",
                      "@Message.ExtendedInfo": [{"MessageId": "IDRAC.2.8.SYS518", "Message": "iDRAC is not ready."}]}}
    assert redfish_message(body) == "iDRAC is not ready. [IDRAC.2.8.SYS518]"
    assert redfish_message({"error": {"message": "plain"}}) == "plain"
    assert redfish_message("not json") == ""


def test_known_and_mac() -> None:
    assert [known(v) for v in (None, "", "N/A", " x ", 0)] == [None, None, None, "x", None]
    assert mac("70:B5:E8:F0:52:DC") == "70:b5:e8:f0:52:dc"
    assert mac("00:00:00:00:00:00") is None and mac("garbage") is None
