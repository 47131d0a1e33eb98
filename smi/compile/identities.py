"""Workload identities: SPIFFE ids derived from ServiceAccounts."""

from __future__ import annotations


def spiffe_id(trust_domain: str, namespace: str, service_account: str) -> str:
    """``spiffe://<trust-domain>/ns/<ns>/sa/<sa>``: the identity of every pod running as that SA."""
    return f"spiffe://{trust_domain}/ns/{namespace}/sa/{service_account}"
