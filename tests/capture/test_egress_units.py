"""The egress policy (parse, decide) and the name a connection asks for (Host, SNI), without I/O."""

from __future__ import annotations

import ssl
from typing import Any

import pytest

from proxy.capture.egress import EgressMatcher, parse_policy
from proxy.capture.names import http_host, name_complete, requested_name, tls_server_name
from proxy.sniff import Detected
from smi.proxyconfig import EGRESS_DENY, EgressPolicy, EgressRule, ProxyConfig, ProxyNode, decode, encode


def client_hello(server_name: str | None) -> bytes:
    """The first flight of a real TLS client (Python's ssl), with SNI ``server_name``."""
    context = ssl.create_default_context()
    context.check_hostname = server_name is not None
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname=server_name)
    with pytest.raises(ssl.SSLWantReadError):
        tls.do_handshake()
    return outgoing.read()


def test_allow_mode_allows_everything() -> None:
    assert EgressMatcher(EgressPolicy()).allows("198.18.9.9", 1)


def test_deny_mode_allows_only_what_a_rule_matches_in_every_field() -> None:
    policy = EgressPolicy(
        mode=EGRESS_DENY,
        allow=(
            EgressRule(hosts=("api.example.com", "*.pkg.example"), ports=(443,)),
            EgressRule(cidrs=("198.18.4.0/24",)),
        ),
    )
    m = EgressMatcher(policy)
    assert m.needs_host
    assert m.allows("198.18.1.1", 443, "API.example.com.")
    assert m.allows("198.18.1.1", 443, "a.b.pkg.example")
    assert not m.allows("198.18.1.1", 443, "pkg.example")  # the wildcard needs a label before the suffix
    assert not m.allows("198.18.1.1", 80, "api.example.com")  # port must match too
    assert not m.allows("198.18.1.1", 443, None)  # no name seen: a host rule cannot match
    assert m.allows("198.18.4.200", 5432)
    assert not m.allows("198.18.5.1", 5432)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"mode": "block"}, "egress.mode: must be 'allow' or 'deny'"),
        ({"mode": "deny", "allow": [{}]}, "egress.allow[0]: names nothing"),
        ({"mode": "deny", "allow": [{"cidrs": ["300.1.1.1/8"]}]}, "egress.allow[0].cidrs: '300.1.1.1/8' is not"),
        ({"mode": "deny", "allow": [{"ports": [0]}]}, "egress.allow[0].ports: must be a list of port numbers"),
        ({"mode": "deny", "allow": [{"hosts": ["a.*.com"]}]}, "a wildcard is only allowed as a leading"),
        ({"mode": "deny", "allow": [{"host": ["a"]}]}, "egress.allow[0]: unknown field(s) host"),
        ({"mode": "allow", "allow": [{"ports": [1]}]}, "only meaningful with mode 'deny'"),
        (["deny"], "egress: must be a mapping"),
    ],
)
def test_bad_policies_are_refused_naming_the_field(data: Any, message: str) -> None:
    with pytest.raises(ValueError, match=None) as caught:
        parse_policy(data)
    assert message in str(caught.value)


def test_a_policy_parses_and_travels_in_the_proxy_config_only_when_set() -> None:
    policy = parse_policy(
        {"mode": "deny", "allow": [{"hosts": ["*.example"], "cidrs": ["198.18.0.0/15"], "ports": [1]}]}
    )
    assert policy == EgressPolicy(EGRESS_DENY, (EgressRule(("*.example",), ("198.18.0.0/15",), (1,)),))
    node = ProxyNode(namespace="a", pod="p", service_account="sa", identity="spiffe://cluster.local/ns/a/sa/sa")
    assert "egress" not in encode(ProxyConfig(node=node))  # the default is not sent (older proxies, goldens)
    config = ProxyConfig(node=node, egress=policy)
    assert decode(ProxyConfig, encode(config)) == config


def test_host_header_and_sni_are_found_once_complete() -> None:
    head = b"GET / HTTP/1.1\r\nUser-Agent: t\r\nHOST: Example.org:8443\r\n\r\n"
    assert http_host(head) == "Example.org"
    assert http_host(b"GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n") == "::1"
    assert http_host(head[:-2]) is None
    assert not name_complete(Detected.HTTP1, head[:-2]) and name_complete(Detected.HTTP1, head)
    hello = client_hello("outside.example")
    assert tls_server_name(hello) == "outside.example"
    assert requested_name(Detected.TLS, hello) == "outside.example"
    assert tls_server_name(hello[:40]) is None and not name_complete(Detected.TLS, hello[:40])
    assert tls_server_name(client_hello(None)) is None
    assert tls_server_name(b"\x16\x03\x01\x00\x05\x01\x00\x00\xff\xff") is None  # truncated inside: no crash
    assert requested_name(Detected.OPAQUE, b"xyz") is None and name_complete(Detected.OPAQUE, b"")


def test_the_config_stream_writes_the_egress_policy_exactly_as_the_codec_does() -> None:
    import json

    from smi.distribution import canonical

    node = ProxyNode(namespace="a", pod="p", service_account="sa", identity="spiffe://cluster.local/ns/a/sa/sa")
    for config in (ProxyConfig(node=node), ProxyConfig(node=node, egress=parse_policy({"mode": "deny"}))):
        assert json.loads(canonical(config)) == encode(config)


def test_smi_up_names_the_file_and_field_of_a_bad_egress_policy(tmp_path: Any) -> None:
    import subprocess
    import sys

    policy = tmp_path / "egress.yaml"
    policy.write_text("mode: deny\nallow:\n  - cidrs: [not-a-network]\n")
    argv = [sys.executable, "-m", "smi.cli.main", "up", "--egress-policy", str(policy), "--state-dir", str(tmp_path)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"smi up: --egress-policy {policy}: egress.allow[0].cidrs: 'not-a-network' is not an IP address or CIDR"
    ]
