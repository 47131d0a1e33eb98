"""The sidecar's edge metrics as rows of numbers: parsing its ``/metrics`` text (sans-IO).

A sidecar exposes one series per edge (``proxy.metrics.EDGE_LABELS``); this module reads
only the families the TrafficMetrics API needs and folds them into one vector per edge:

======  =========================================================================
slot    value (counters, as exposed: cumulative since the sidecar started)
======  =========================================================================
0       ``smi_responses_total`` (all status codes)
1       ``smi_responses_total{status_class="5xx"}`` plus ``smi_grpc_responses_total{classification="failure"}``
        (failures: a gRPC error is one even with HTTP 200)
2       ``smi_authz_denied_total`` (denied by the mesh's access policy)
3       ``smi_requests_total``
4       ``smi_proxy_errors_total`` (every reason)
5       ``smi_request_duration_seconds_sum``
6       ``smi_responses_total{tls="true"}`` (responses whose hop between the sidecars was mutual TLS)
7..     ``smi_request_duration_seconds_bucket`` cumulative, one per ``le`` (``+Inf`` last)
======  =========================================================================

Everything else (other families, comments, malformed lines) is skipped; a document with
no parseable line at all raises :class:`MalformedMetrics` so the caller can count it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final

from smi.proxyconfig.metricnames import BUCKET_LABELS, BUCKETS, EDGE_LABELS

EdgeKey = tuple[str, ...]  # the EDGE_LABELS values, in order

RESPONSES: Final = 0
FAILURES: Final = 1
DENIED: Final = 2
REQUESTS: Final = 3
ERRORS: Final = 4
DURATION_SUM: Final = 5
MTLS_RESPONSES: Final = 6
FIRST_BUCKET: Final = 7
WIDTH: Final = FIRST_BUCKET + len(BUCKET_LABELS)
BOUNDS: Final = (*BUCKETS, float("inf"))

_BUCKET_SLOT: Final = {label: FIRST_BUCKET + i for i, label in enumerate(BUCKET_LABELS)}
_BUCKET_SLOT.update({"+Inf": WIDTH - 1, "Inf": WIDTH - 1})
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
_FAMILIES: Final = (
    "smi_responses_total{",
    "smi_authz_denied_total{",
    "smi_requests_total{",
    "smi_proxy_errors_total{",
    "smi_request_duration_seconds_sum{",
    "smi_request_duration_seconds_bucket{",
    "smi_grpc_responses_total{",
)


class MalformedMetrics(ValueError):
    """The text is not Prometheus exposition at all."""


def _unescape(value: str) -> str:
    if "\\" not in value:
        return value
    return value.replace("\\n", "\n").replace('\\"', '"').replace("\\\\", "\\")


def _bucket_slot(le: str) -> int | None:
    slot = _BUCKET_SLOT.get(le)
    if slot is None:
        try:
            slot = _BUCKET_SLOT.get(repr(float(le)))
        except ValueError:
            return None
    return slot


_LABEL_CACHE: dict[str, tuple[dict[str, str], EdgeKey]] = {}
_CACHE_LIMIT: Final = 200_000


def _labels(text: str) -> tuple[dict[str, str], EdgeKey]:
    """The labels of ``a="x",b="y"`` and their edge key; memoised: the same series recur on every scrape."""
    cached = _LABEL_CACHE.get(text)
    if cached is None:
        if "\\" in text:
            found = {k: _unescape(v) for k, v in _LABEL.findall(text)}
        else:
            found = {}
            for pair in text.rstrip(",").split('",'):
                name, _, value = pair.partition('="')
                found[name] = value.rstrip('"')
        if len(_LABEL_CACHE) >= _CACHE_LIMIT:
            _LABEL_CACHE.clear()
        cached = _LABEL_CACHE[text] = (found, tuple(found.get(label, "") for label in EDGE_LABELS))
    return cached


def parse(text: str) -> dict[EdgeKey, list[float]]:
    """The edge vectors in one sidecar's exposition text."""
    rows: dict[EdgeKey, list[float]] = {}
    seen_any = False
    for line in text.splitlines():
        if not line or line[0] == "#":
            if line.startswith("# TYPE") or line.startswith("# HELP"):
                seen_any = True
            continue
        if not line.startswith(_FAMILIES):
            if line[0].isalpha():
                seen_any = True
            continue
        brace = line.find("{")
        end = line.rfind("}")
        if end < brace:
            continue
        try:
            value = float(line[end + 1 :].split()[0])
        except (ValueError, IndexError):
            continue
        seen_any = True
        labels, key = _labels(line[brace + 1 : end])
        fold(rows, line[:brace], labels, value, key)
    if not seen_any and text.strip():
        raise MalformedMetrics("no Prometheus samples in the text")
    return rows


def fold(
    rows: dict[EdgeKey, list[float]], name: str, labels: dict[str, str], value: float, key: EdgeKey | None = None
) -> None:
    """Add one sample of family ``name`` (as exposed, with ``_total``) to its edge's vector."""
    if key is None:
        key = tuple(labels.get(label, "") for label in EDGE_LABELS)
    row = rows.get(key)
    if row is None:
        row = rows[key] = [0.0] * WIDTH
    if name == "smi_responses_total":
        row[RESPONSES] += value
        if labels.get("status_class") == "5xx":
            row[FAILURES] += value
        if labels.get("tls") == "true":
            row[MTLS_RESPONSES] += value
    elif name == "smi_request_duration_seconds_bucket":
        slot = _bucket_slot(labels.get("le", ""))
        if slot is not None:
            row[slot] += value
    elif name == "smi_request_duration_seconds_sum":
        row[DURATION_SUM] += value
    elif name == "smi_authz_denied_total":
        row[DENIED] += value
    elif name == "smi_requests_total":
        row[REQUESTS] += value
    elif name == "smi_proxy_errors_total":
        row[ERRORS] += value
    elif name == "smi_grpc_responses_total" and labels.get("classification") == "failure":
        # a gRPC call that ended with a non-zero grpc-status is a failure even with HTTP 200; the
        # sidecar counts only upstream answers here (its own replies by HTTP status), so no double count
        row[FAILURES] += value


def quantile(q: float, cumulative: Iterable[float]) -> float:
    """Seconds at quantile ``q`` of cumulative bucket counts, as PromQL's ``histogram_quantile``.

    Linear interpolation inside the bucket the rank falls in (from 0 for the first bucket);
    a rank in the ``+Inf`` bucket answers the highest finite bound; NaN without observations.
    """
    counts = list(cumulative)
    total = counts[-1] if counts else 0.0
    if total <= 0:
        return float("nan")
    rank = q * total
    previous_bound, previous_count = 0.0, 0.0
    for bound, count in zip(BOUNDS, counts, strict=True):
        if count >= rank:
            if bound == float("inf"):
                return BUCKETS[-1]
            if count == previous_count:
                return bound
            return previous_bound + (bound - previous_bound) * (rank - previous_count) / (count - previous_count)
        previous_bound, previous_count = bound, count
    return BUCKETS[-1]
