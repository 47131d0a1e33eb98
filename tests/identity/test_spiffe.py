from __future__ import annotations

import pytest

from smi.identity import InvalidSpiffeId, SpiffeId, parse_spiffe_id, spiffe_id


def test_spiffe_id_of_a_service_account_round_trips() -> None:
    uri = spiffe_id("cluster.local", "shop", "web")
    assert uri == "spiffe://cluster.local/ns/shop/sa/web"
    assert parse_spiffe_id(uri) == SpiffeId("cluster.local", "shop", "web")


@pytest.mark.parametrize(
    ("uri", "says"),
    [
        ("https://cluster.local/ns/a/sa/b", "must start with spiffe://"),
        ("spiffe://cluster.local/ns/a", "/ns/<namespace>/sa/<sa>"),
        ("spiffe://cluster.local/ns/a/sa/b/c", "/ns/<namespace>/sa/<sa>"),
        ("spiffe://Cluster.Local/ns/a/sa/b", "invalid trust domain"),
        ("spiffe://cluster.local/ns/A_B/sa/b", "invalid namespace"),
        ("spiffe://cluster.local/ns/a/sa/", "invalid service account"),
    ],
)
def test_malformed_ids_are_rejected_with_the_reason(uri: str, says: str) -> None:
    with pytest.raises(InvalidSpiffeId, match=says.replace("/", "/")):
        parse_spiffe_id(uri)
