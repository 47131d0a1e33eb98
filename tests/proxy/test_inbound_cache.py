"""The inbound router keeps one Target per allowing rule for the current config: allowed
requests reuse it (no labels, no metrics lookup, no Target per request), each rule still
counts on its own edge, denials are unaffected, and a new config starts afresh."""

from __future__ import annotations

import dataclasses

from proxy.headers import RequestHead
from proxy.holder import ConfigHolder
from proxy.inbound import InboundRouter
from proxy.metrics import Metrics
from proxy.targets import LocalReply, Target
from smi.proxyconfig import AllowRule, HttpMatch
from tests.proxy.harness import CLIENT_ID, SERVER_IP, server_config

READ = AllowRule("default/t/HTTPRouteGroup/read", (CLIENT_ID,), "http", (), (HttpMatch("read", methods=("GET",)),))
WRITE = AllowRule("default/t/HTTPRouteGroup/write", (CLIENT_ID,), "http", (), (HttpMatch("write", methods=("POST",)),))


def router(holder: ConfigHolder, metrics: Metrics) -> InboundRouter:
    return InboundRouter(
        holder=holder, metrics=metrics, port=8080, identity=CLIENT_ID, address="127.0.0.11",
        connect_timeout=1.0, request_timeout=60.0,
    )  # fmt: skip


def target(decision: Target | LocalReply) -> Target:
    assert isinstance(decision, Target)
    return decision


def test_one_target_per_allowing_rule_reused_until_the_config_changes() -> None:
    metrics = Metrics()
    holder = ConfigHolder(metrics)
    config = server_config(app_port=8080, rules=(READ, WRITE))
    holder.swap(config, version=1)
    r = router(holder, metrics)
    get, post, delete = (RequestHead(m, "/", []) for m in ("GET", "POST", "DELETE"))
    first = target(r.decide(get, None))
    assert target(r.decide(get, None)) is first
    assert (first.address, first.port, first.announce_port) == (SERVER_IP, 8080, 0)
    writes = target(r.decide(post, None))
    assert writes is not first and writes.stats is not first.stats
    assert first.stats is metrics.edge(("inbound", "default", "", CLIENT_ID, "default", "", "server",
                                        config.node.identity, READ.name, "", "false"))  # fmt: skip
    denied = r.decide(delete, None)
    assert isinstance(denied, LocalReply) and denied.status == 403
    # a new config (here: another app address) is never served from the old cache
    holder.swap(dataclasses.replace(config, inbound=dataclasses.replace(config.inbound, app_address="127.0.0.99")),
                version=2)  # fmt: skip
    after = target(r.decide(get, None))
    assert after is not first and after.address == "127.0.0.99"
    assert after.stats is first.stats  # same edge, same counters
    holder.swap(dataclasses.replace(config, inbound=dataclasses.replace(config.inbound, rules=(WRITE,))), version=3)
    assert isinstance(r.decide(get, None), LocalReply)
