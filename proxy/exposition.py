"""Prometheus metric families and their text exposition, without ``prometheus_client``.

The sidecar renders ``/metrics`` itself: ``prometheus_client`` costs ~4 MB of an idle
sidecar's memory for what is a few string joins.  The model mirrors the library's, so
callers (tests, the local runtime) can use a :class:`Registry` the way they would use
a ``CollectorRegistry``: ``collect()`` yields families with ``name``, ``documentation``,
``type`` and ``samples`` (``name``, ``labels``, ``value``), and ``get_sample_value``.

The text format (version 0.0.4): per family a ``# HELP`` line (``\\`` and newline
escaped) and a ``# TYPE`` line, then one line per sample, ``name{label="value",...} value``
with the labels sorted by name and label values escaping ``\\``, ``"`` and newline.
Counters are exposed with the ``_total`` suffix (the family name is without it);
histograms as cumulative ``_bucket{le=...}`` samples (``+Inf`` last), ``_count`` and ``_sum``.
Values print like Go's ``strconv.FormatFloat(v, 'g')`` as Prometheus expects
(``1.0``, ``+Inf``, ``1.7e+09``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final, NamedTuple, Protocol

if TYPE_CHECKING:
    from prometheus_client.core import Metric as PrometheusMetric

CONTENT_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"


class Sample(NamedTuple):
    name: str
    labels: dict[str, str]
    value: float


@dataclass(slots=True)
class MetricFamily:
    """One metric: ``type`` is ``counter``, ``gauge`` or ``histogram``; ``name`` has no ``_total``."""

    name: str
    documentation: str
    type: str
    labels: Sequence[str] = ()
    samples: list[Sample] = field(default_factory=list)

    def add(self, values: Sequence[str], value: float) -> None:
        """A counter or gauge sample for ``values`` (one per label name, in order)."""
        suffix = "_total" if self.type == "counter" else ""
        self.samples.append(Sample(self.name + suffix, dict(zip(self.labels, values, strict=True)), float(value)))

    def add_histogram(self, values: Sequence[str], buckets: Iterable[tuple[str, float]], total: float) -> None:
        """``buckets``: (upper bound as text, cumulative count), ending with ``+Inf``."""
        labels = dict(zip(self.labels, values, strict=True))
        count = 0.0
        for bound, cumulative in buckets:
            count = float(cumulative)
            self.samples.append(Sample(self.name + "_bucket", {**labels, "le": bound}, count))
        self.samples.append(Sample(self.name + "_count", labels, count))
        self.samples.append(Sample(self.name + "_sum", labels, float(total)))


def counter(name: str, documentation: str, *, labels: Sequence[str] = (), value: float | None = None) -> MetricFamily:
    family = MetricFamily(name, documentation, "counter", labels)
    if value is not None:
        family.add((), value)
    return family


def gauge(name: str, documentation: str, *, labels: Sequence[str] = (), value: float | None = None) -> MetricFamily:
    family = MetricFamily(name, documentation, "gauge", labels)
    if value is not None:
        family.add((), value)
    return family


def histogram(name: str, documentation: str, *, labels: Sequence[str] = ()) -> MetricFamily:
    return MetricFamily(name, documentation, "histogram", labels)


class Source(Protocol):
    """Anything that yields families at scrape time."""

    def families(self) -> Iterator[MetricFamily]: ...


def format_value(value: float) -> str:
    if value == math.inf:
        return "+Inf"
    if value == -math.inf:
        return "-Inf"
    if math.isnan(value):
        return "NaN"
    text = repr(float(value))
    dot = text.find(".")
    if value > 0 and dot > 6 and "e" not in text:
        # Go prints large numbers with an exponent where Python still prints digits.
        digits = (text[:dot] + text[dot + 1 :]).rstrip("0")
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{mantissa}e+{dot - 1:02d}"
    return text


def escape_label_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _sample_line(sample: Sample) -> str:
    if sample.labels:
        pairs = ",".join(f'{k}="{escape_label_value(v)}"' for k, v in sorted(sample.labels.items()))
        return f"{sample.name}{{{pairs}}} {format_value(sample.value)}\n"
    return f"{sample.name} {format_value(sample.value)}\n"


def render(families: Iterable[MetricFamily]) -> bytes:
    """The text exposition of ``families``."""
    out: list[str] = []
    for family in families:
        name = family.name + "_total" if family.type == "counter" else family.name
        doc = family.documentation.replace("\\", "\\\\").replace("\n", "\\n")
        out.append(f"# HELP {name} {doc}\n# TYPE {name} {family.type}\n")
        out.extend(_sample_line(s) for s in family.samples)
    return "".join(out).encode()


class Registry:
    """The sources one ``/metrics`` endpoint exposes, in registration order."""

    def __init__(self) -> None:
        self._sources: list[Source] = []

    def register(self, source: Source) -> None:
        self._sources.append(source)

    def collect(self) -> Iterator[MetricFamily]:
        for source in list(self._sources):
            yield from source.families()

    def render(self) -> bytes:
        return render(self.collect())

    def get_sample_value(self, name: str, labels: dict[str, str] | None = None) -> float | None:
        """The value of the sample ``name`` with exactly ``labels``; None when there is none."""
        wanted = labels or {}
        for family in self.collect():
            for sample in family.samples:
                if sample.name == name and sample.labels == wanted:
                    return sample.value
        return None


def to_prometheus(families: Iterable[MetricFamily]) -> Iterator[PrometheusMetric]:
    """The same families as ``prometheus_client`` objects (imported here, on demand).

    Lets a source also be registered with a ``prometheus_client.CollectorRegistry``.
    """
    from prometheus_client.core import Metric

    for family in families:
        metric = Metric(family.name, family.documentation, family.type)
        for sample in family.samples:
            metric.add_sample(sample.name, sample.labels, sample.value)
        yield metric
