"""Pure helpers of the Redfish client: URLs, ETag quoting, Redfish error messages."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from anyrack.bmc import connect
from anyrack.bmc.redfish.client import _requote, _retry_after, redfish_message
from anyrack.bmc.redfish.controller import http_base
from anyrack.bmc.redfish.inventory import known, mac
from anyrack.bmc.redfish.origin import origin, show_origin
from anyrack.cli.main import main
from anyrack.errors import InputError


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


def test_placeholder_serials_are_unknown() -> None:
    assert [known(v) for v in ("00000000000000", "0", "To Be Filled By O.E.M.", "1654422007043")] == \
        [None, None, None, "1654422007043"]


def test_origin_fills_in_the_default_port_and_drops_user_info() -> None:
    assert origin("https://10.0.0.5") == origin("HTTPS://10.0.0.5:443/redfish/v1") == ("https", "10.0.0.5", 443)
    assert origin("https://u:p@10.0.0.5:8443/x") == ("https", "10.0.0.5", 8443)
    assert origin("http://10.0.0.5") != origin("https://10.0.0.5")
    assert show_origin(origin("https://[fe80::1]:8443/")) == "https://[fe80::1]:8443"


def test_credentials_in_a_bmc_url_are_refused_without_echoing_them() -> None:
    with pytest.raises(InputError) as err:
        connect("redfish+https://root:Sup3r-secret@10.0.0.5", "root", "x")
    assert "refused" in str(err.value) and "Sup3r" not in str(err.value) and "root" not in str(err.value)
    with pytest.raises(InputError) as err:
        connect("ftp://root:Sup3r-secret@10.0.0.5", "root", "x")
    assert "Sup3r" not in str(err.value)


def test_plain_http_needs_allow_http_and_is_warned_once_per_bmc(caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(InputError, match="plain HTTP would send the BMC password in clear text"):
        connect("redfish+http://10.0.0.5", "root", "x")
    caplog.set_level(logging.WARNING)
    for node in ("n1", "n2"):  # two nodes on one BMC
        connect("redfish+http://10.0.0.5:8000", "root", "x", allow_http=True, node=node)
    connect("redfish+http://10.0.0.6:8000", "root", "x", allow_http=True)
    warned = [r.getMessage() for r in caplog.records if "plain HTTP" in r.getMessage()]
    assert [w.split(": ", 1)[0] for w in warned] == ["http://10.0.0.5:8000", "http://10.0.0.6:8000"]


def test_insecure_and_ca_together_are_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("not used\n")
    monkeypatch.setenv("BMC_PW", "x")
    rc = main(["bmc", "power", "redfish+https://10.0.0.5", "status", "--user", "root", "--password-env", "BMC_PW",
               "--ca", str(ca), "--insecure"])
    assert rc == 2
    assert "--insecure and --ca contradict each other" in capsys.readouterr().err
