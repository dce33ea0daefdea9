"""NTLM, TLS trust, impersonation rights, unknown mailboxes and server versions."""
from __future__ import annotations

import pytest
import requests
from exchangelib import FaultTolerance
from exchangelib.errors import (ErrorImpersonateUserDenied, ErrorNonExistentMailbox, RateLimitError, TransportError,
                                UnauthorizedError)
from exchangelib.protocol import BaseProtocol, close_connections
from exchangelib.version import EXCHANGE_2016


def test_wrong_password_is_401(sandbox, account):
    with pytest.raises(UnauthorizedError):
        account(sandbox, "alice.jones@example.com", password="wrong").contacts.total_count
    with pytest.raises(RateLimitError):   # FaultTolerance retries 401s, but not beyond max_wait
        account(sandbox, "alice.jones@example.com", password="wrong2",
                retry=FaultTolerance(max_wait=1)).contacts.total_count


def test_domain_form_and_impersonation_rights(sandbox, account):
    acc = account(sandbox, "bob.smith@example.com", username="EXAMPLE\\svc-sync")
    assert acc.contacts.total_count >= 0
    sandbox.add_user("helpdesk@example.com", "Helpdesk-1", can_impersonate=False)
    with pytest.raises(ErrorImpersonateUserDenied):
        account(sandbox, "bob.smith@example.com", username="helpdesk@example.com", password="Helpdesk-1").root
    with pytest.raises(ErrorNonExistentMailbox):
        account(sandbox, "nobody@example.com").root
    with pytest.raises(ErrorImpersonateUserDenied):     # seeded impersonation_denied
        account(sandbox, "carol.denied@example.com").root
    sandbox.faults.set(deny_impersonation={"bob.smith@example.com"})
    try:
        with pytest.raises(ErrorImpersonateUserDenied):
            account(sandbox, "bob.smith@example.com").contacts.total_count
    finally:
        sandbox.faults.clear()
    denied = [r for r in sandbox.requests if r.outcome == "ErrorImpersonateUserDenied"]
    assert len(denied) >= 3


def test_impersonation_via_alias(sandbox, account):
    acc = account(sandbox, "a.jones@example.com")
    assert "Seed One" in [c.display_name for c in acc.contacts.all().only("display_name")]


def test_untrusted_ca_fails(sandbox, account, monkeypatch):
    monkeypatch.setattr(BaseProtocol, "HTTP_ADAPTER_CLS", requests.adapters.HTTPAdapter)
    close_connections()
    try:
        with pytest.raises(TransportError, match="CERTIFICATE_VERIFY_FAILED"):
            account(sandbox, "bob.smith@example.com", password=sandbox.info.service_account.password + "x").root
    finally:
        close_connections()


@pytest.mark.parametrize("version, build, api", [("Exchange2010", (14, 3, 123, 4), "Exchange2010_SP2"),
                                                ("Exchange2013", (15, 0, 1497, 2), "Exchange2013_SP1"),
                                                ("Exchange2016", (15, 1, 2507, 6), "Exchange2016"),
                                                ("Exchange2019", (15, 2, 1748, 10), "Exchange2016"),
                                                ("ExchangeSE", (15, 2, 2562, 17), "Exchange2016")])
def test_versions(make_sandbox, account, version, build, api):
    sb = make_sandbox(version=version)
    sb.add_mailbox("dave@example.com")
    guessed = account(sb, "dave@example.com", build=None)          # version guessing through ConvertId
    assert guessed.version.api_version == api
    b = guessed.version.build
    assert (b.major_version, b.minor_version, b.major_build, b.minor_build) == build
    assert guessed.contacts.total_count == 0
    pinned = account(sb, "dave@example.com", build=EXCHANGE_2016)  # too new for 2010/2013: walks down
    assert pinned.contacts.total_count == 0
    refused = [r for r in sb.requests if r.outcome == "ErrorInvalidServerVersion"]
    assert bool(refused) == (version in ("Exchange2010", "Exchange2013"))
