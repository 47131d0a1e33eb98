"""The `smi up` dashboard shows the retries callers' sidecars sent and the endpoints they eject."""

from __future__ import annotations

import pytest

from smi.runtime.dashboard import render
from smi.runtime.traffic import Edge, merge, rates

LABELS = (
    'direction="outbound",source_namespace="bookstore",source_workload="bookbuyer",'
    'destination_namespace="bookstore",destination_service="bookstore",backend="bookstore-v2"'
)


def _scrape(responses: int, retried: int, ejected: int) -> str:
    return (
        "# TYPE smi_responses_total counter\n"
        f'smi_responses_total{{{LABELS},status_code="200"}} {responses}\n'
        "# TYPE smi_proxy_errors_total counter\n"
        f'smi_proxy_errors_total{{{LABELS},reason="retried"}} {retried}\n'
        "# TYPE smi_outlier_ejected_endpoints gauge\n"
        f'smi_outlier_ejected_endpoints{{cluster="bookstore/bookstore-v2:8080",policy="bookstore/v2"}} {ejected}\n'
    )


def test_retries_per_second_and_ejected_endpoints() -> None:
    older, newer = merge([_scrape(100, 10, 0)]), merge([_scrape(140, 30, 1)])
    figures = rates(older, newer, seconds=2.0)
    edge = Edge("bookstore/bookbuyer", "bookstore/bookstore", "bookstore-v2")
    assert figures[edge].rps == pytest.approx(20.0)
    assert figures[edge].retry_rps == pytest.approx(10.0)
    text = render(figures, pods=[], events=[], ejected=newer.ejected)
    assert "RETRY/s" in text and "10.0" in text
    assert "ejected (outlier detection): bookstore/bookstore-v2:8080: 1 endpoint" in text


def test_without_retries_the_table_keeps_its_columns() -> None:
    figures = rates(merge([_scrape(100, 0, 0)]), merge([_scrape(140, 0, 0)]), seconds=2.0)
    text = render(figures, pods=[], events=[])
    assert "RETRY/s" not in text and "ejected" not in text
