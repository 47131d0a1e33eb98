"""The UDP pure parts: framing (any split of the stream), sessions (idle timeout, bound), policy."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from proxy.authz import Allow, Deny
from proxy.compiled import compile_config
from proxy.udp.framing import Decoder, FramingError, encode
from proxy.udp.policy import authorize_datagrams
from proxy.udp.sessions import SessionTable
from smi.proxyconfig import AllowRule, InboundConfig, InboundPort, ProxyConfig, ProxyNode

ALICE = "spiffe://cluster.local/ns/a/sa/alice"


@given(st.lists(st.binary(max_size=300), max_size=20), st.lists(st.integers(min_value=1, max_value=50), min_size=1))
def test_any_split_of_the_stream_gives_back_the_same_datagrams(datagrams: list[bytes], cuts: list[int]) -> None:
    stream = b"".join(encode(d) for d in datagrams)
    decoder, got, at, i = Decoder(limit=300), [], 0, 0
    while at < len(stream):
        step = cuts[i % len(cuts)]
        got += decoder.feed(stream[at : at + step])
        at, i = at + step, i + 1
    assert got == datagrams
    assert decoder.pending == 0


def test_frames_over_the_limit_are_refused_on_both_sides() -> None:
    with pytest.raises(FramingError, match="over the limit of 4"):
        encode(b"12345", limit=4)
    decoder = Decoder(limit=4)
    assert decoder.feed(b"\x00") == []  # half a length: wait
    with pytest.raises(FramingError, match="frame of 5 bytes"):
        decoder.feed(b"\x05abcde")
    assert Decoder().feed(encode(b"") + encode(b"x")) == [b"", b"x"]


def test_sessions_expire_when_idle_and_are_bounded() -> None:
    table: SessionTable[str] = SessionTable(idle_timeout=60.0, max_sessions=2)
    table.add(("10.0.0.1", 1000), "a", now=0.0)
    table.add(("10.0.0.1", 1001), "b", now=0.0)
    assert table.full()
    with pytest.raises(OverflowError):
        table.add(("10.0.0.2", 1), "c", now=0.0)
    assert table.get(("10.0.0.1", 1000), now=59.0) == "a"  # a datagram refreshes it
    assert table.expired(now=60.0) == [(("10.0.0.1", 1001), "b")]
    assert table.expired(now=118.9) == []
    assert table.expired(now=119.0) == [(("10.0.0.1", 1000), "a")]
    assert len(table) == 0


def _inbound(*rules: AllowRule, permissive: bool = False) -> ProxyConfig:
    node = ProxyNode("b", "p", "sa", "spiffe://cluster.local/ns/b/sa/sa")
    ports = (InboundPort(5353, "udp"),)
    return ProxyConfig(node=node, inbound=InboundConfig(ports=ports, rules=rules, permissive=permissive))


def test_udp_rules_allow_their_sources_on_their_ports_only() -> None:
    udp = AllowRule("b/t/UDPRoute/dns", (ALICE,), "udp", (5353,))
    tcp = AllowRule("b/t/TCPRoute/all", (ALICE,), "tcp", ())
    cc = compile_config(_inbound(udp, tcp))
    assert authorize_datagrams(identity=ALICE, port=5353, inbound=cc.inbound) == Allow("b/t/UDPRoute/dns")
    assert isinstance(authorize_datagrams(identity=ALICE, port=5354, inbound=cc.inbound), Deny)
    assert isinstance(
        authorize_datagrams(identity="spiffe://cluster.local/ns/a/sa/eve", port=5353, inbound=cc.inbound), Deny
    )
    assert isinstance(authorize_datagrams(identity=None, port=5353, inbound=cc.inbound), Deny)
    only_tcp = compile_config(_inbound(tcp))
    assert isinstance(
        authorize_datagrams(identity=ALICE, port=5353, inbound=only_tcp.inbound), Deny
    )  # TCPRoute is not UDP
    assert (
        authorize_datagrams(identity=None, port=1, inbound=compile_config(_inbound(permissive=True)).inbound).rule == ""
    )
