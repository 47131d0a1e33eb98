"""Tap subscriptions: filters, the per-second cap, a slow reader, and the idle hub."""

from __future__ import annotations

import dataclasses

import pytest

from proxy.tap import TapEvent, TapFilter, TapFilterError, TapHub

EVENT = TapEvent(
    time=0.0,
    direction="outbound",
    source_namespace="bookstore",
    source_workload="bookbuyer",
    source_identity="spiffe://cluster.local/ns/bookstore/sa/bookbuyer",
    destination_namespace="bookstore",
    destination_service="bookstore",
    destination_workload="bookstore-v1",
    destination_identity="spiffe://cluster.local/ns/bookstore/sa/bookstore",
    method="GET",
    authority="bookstore.bookstore:8080",
    path="/books/1",
    status=200,
    latency_ms=1.5,
    request_bytes=0,
    response_bytes=120,
    tls=True,
    backend="bookstore-v1",
    route="books",
    rule="TrafficTarget bookstore/bookstore",
)


def test_an_idle_hub_is_not_listening_and_one_subscriber_turns_it_on_and_off() -> None:
    hub = TapHub()
    assert hub.listening is False
    sub = hub.subscribe(TapFilter(), now=0.0)
    assert hub.listening is True
    hub.unsubscribe(sub)
    assert hub.listening is False


@pytest.mark.parametrize(
    ("query", "wanted"),
    [
        ({"workload": "bookbuyer"}, True),
        ({"workload": "bookstore-v1"}, True),
        ({"workload": "bookthief"}, False),
        ({"namespace": "other"}, False),
        ({"path_prefix": "/books"}, True),
        ({"path_prefix": "/admin"}, False),
        ({"method": "get"}, True),
        ({"method": "POST"}, False),
        ({"status_class": "2xx"}, True),
        ({"status_class": "5xx"}, False),
        ({"direction": "inbound"}, False),
    ],
)
def test_filters_from_query_parameters(query: dict[str, str], wanted: bool) -> None:
    hub = TapHub()
    sub = hub.subscribe(TapFilter.from_query(query), now=0.0)
    hub.publish(EVENT, now=0.0)
    assert [e.path for e in sub.take()] == (["/books/1"] if wanted else [])


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"verb": "GET"}, "unknown tap filter 'verb'"),
        ({"status_class": "6xx"}, "status_class: must be one of"),
        ({"direction": "sideways"}, "direction: must be inbound or outbound"),
        ({"path_prefix": "books"}, "path_prefix: must start with '/'"),
    ],
)
def test_bad_filters_name_the_parameter(query: dict[str, str], message: str) -> None:
    with pytest.raises(TapFilterError, match=message):
        TapFilter.from_query(query)


def test_an_error_without_a_status_has_its_own_class() -> None:
    reset = dataclasses.replace(EVENT, status=0, error="upstream reset")
    hub = TapHub()
    sub = hub.subscribe(TapFilter(status_class="error"), now=0.0)
    hub.publish(reset, now=0.0)
    (event,) = sub.take()
    assert event.as_json()["status_class"] == "error"


def test_the_cap_passes_rate_events_per_second_and_counts_the_rest() -> None:
    hub = TapHub()
    sub = hub.subscribe(TapFilter(), now=0.0, rate=10)
    for i in range(100):  # 100 events within one second
        hub.publish(EVENT, now=i / 100)
    passed = len(sub.take())
    # a full bucket (10) plus what refills during the second (~9.9)
    assert passed == 19
    assert sub.limited == 100 - passed
    for i in range(20):  # the next second at 20/s: half pass
        hub.publish(EVENT, now=2.0 + i / 20)
    assert len(sub.take()) == 10 + 9


def test_a_reader_that_never_reads_holds_a_bounded_queue() -> None:
    hub = TapHub()
    sub = hub.subscribe(TapFilter(), now=0.0, rate=1000)
    for i in range(5000):
        hub.publish(EVENT, now=i)  # one per second: never capped
    assert len(sub.queue) == 1000
    assert sub.dropped == 4000


def test_each_subscriber_has_its_own_filter_and_notification() -> None:
    hub = TapHub()
    woken: list[str] = []
    buyer = hub.subscribe(TapFilter(workload="bookbuyer"), now=0.0, notify=lambda: woken.append("buyer"))
    thief = hub.subscribe(TapFilter(workload="bookthief"), now=0.0, notify=lambda: woken.append("thief"))
    hub.publish(EVENT, now=0.0)
    assert (len(buyer.take()), len(thief.take()), woken) == (1, 0, ["buyer"])
