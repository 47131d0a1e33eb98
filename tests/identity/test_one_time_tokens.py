"""The local runtime's bootstrap tokens are one-time: a token read from a pod's file later is worth nothing."""

from __future__ import annotations

import pytest

from smi.identity import AuthenticationFailed, BootstrapTokenAuthenticator


async def test_a_one_time_token_is_accepted_once() -> None:
    tokens = BootstrapTokenAuthenticator()
    token = tokens.mint(namespace="shop", pod="web-1", service_account="web", one_time=True)
    who = await tokens.authenticate(token)
    assert (who.namespace, who.service_account, who.pod) == ("shop", "web", "web-1")
    with pytest.raises(AuthenticationFailed, match="unknown or was revoked"):
        await tokens.authenticate(token)


async def test_a_plain_token_stays_valid_until_revoked() -> None:
    tokens = BootstrapTokenAuthenticator()
    token = tokens.mint(namespace="shop", pod="web-1", service_account="web")
    await tokens.authenticate(token)
    await tokens.authenticate(token)
    tokens.revoke(namespace="shop", pod="web-1")
    with pytest.raises(AuthenticationFailed):
        await tokens.authenticate(token)


async def test_renewal_by_certificate_is_allowed_only_while_a_pod_of_the_account_runs() -> None:
    tokens = BootstrapTokenAuthenticator()
    token = tokens.mint(namespace="shop", pod="web-1", service_account="web", one_time=True)
    await tokens.authenticate(token)  # spent
    assert tokens.may_renew("shop", "web")  # the pod runs: its certificate may be renewed
    assert not tokens.may_renew("shop", "api") and not tokens.may_renew("other", "web")
    tokens.mint(namespace="shop", pod="web-2", service_account="web", one_time=True)
    tokens.revoke(namespace="shop", pod="web-1")
    assert tokens.may_renew("shop", "web")  # web-2 still runs
    tokens.revoke(namespace="shop", pod="web-2")
    assert not tokens.may_renew("shop", "web")  # no pod left: a leaked certificate cannot be renewed
