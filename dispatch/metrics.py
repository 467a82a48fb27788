"""The dispatcher's Prometheus metrics, on a registry of its own (one per Dispatcher)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from stampede import metricnames as names
from stampede.telemetry import LATENCY_BUCKETS, pipeline_latency_histogram

OUTCOMES = ("ack", "nak", "term", "dlq", "filtered")


class DispatchMetrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.deliveries = Counter(
            names.DISPATCH_DELIVERIES,
            "Delivery attempts by result: ack (2xx), nak (retry later), dlq (dead-lettered and "
            "terminated), term (terminated without a dead letter sink), filtered (acked, not for "
            "this Trigger's attribute filter).",
            ["trigger", "outcome"],
            registry=r,
        )
        self.redeliveries = Counter(
            "stampede_dispatch_redeliveries_total",
            "Delivery attempts of messages JetStream had delivered before (retries, ack-wait expiries).",
            ["trigger"],
            registry=r,
        )
        self.request_duration = Histogram(
            "http_client_request_duration_seconds",
            "Duration of HTTP deliveries to subscribers (OpenTelemetry http.client.request.duration).",
            ["trigger", "http_response_status_code", "error_type"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        # stage=dispatch: the subscriber acknowledged the delivery.
        self.pipeline_latency = pipeline_latency_histogram(r)
        self.inflight = Gauge(
            names.DISPATCH_INFLIGHT, "HTTP deliveries in flight.", ["trigger"], registry=r
        )
        self.replica_deliveries = Counter(
            names.DISPATCH_REPLICA_DELIVERIES,
            "HTTP deliveries answered, by the subscriber replica that took them (each one's share).",
            ["trigger", "replica"],
            registry=r,
        )
        self.consumer_pending = Gauge(
            names.DISPATCH_CONSUMER_PENDING,
            "Messages in the stream not yet delivered to the Trigger's consumer (consumer lag, "
            "JetStream num_pending).",
            ["trigger"],
            registry=r,
        )
        self.consumer_ack_pending = Gauge(
            names.DISPATCH_CONSUMER_ACK_PENDING,
            "Messages delivered but not yet acknowledged (in flight or waiting out a retry backoff).",
            ["trigger"],
            registry=r,
        )
        self.consumer_bound = Gauge(
            "stampede_dispatch_consumer_bound",
            "1 while the Trigger's durable consumer exists and is being pulled.",
            ["trigger"],
            registry=r,
        )
        self.dead_letter_failures = Counter(
            "stampede_dispatch_dead_letter_failures_total",
            "Dead letters that could not be published to STAMPEDE_DLQ (the message is retried instead).",
            ["trigger"],
            registry=r,
        )
        self.expired = Counter(
            names.DISPATCH_EXPIRED,
            "Messages the stream dropped before this Trigger got them (max_age or the byte cap): "
            "stream sequences its consumer skipped.",
            ["trigger"],
            registry=r,
        )
        self.nats_connected = Gauge(
            "stampede_dispatch_nats_connected", "1 while connected to NATS.", registry=r
        )

    def register_trigger(self, trigger: str) -> None:
        """Create every labelled series up front, so dashboards see zeros instead of gaps."""
        for outcome in OUTCOMES:
            self.deliveries.labels(trigger, outcome)
        self.redeliveries.labels(trigger)
        self.expired.labels(trigger)
        for gauge in (
            self.inflight,
            self.consumer_pending,
            self.consumer_ack_pending,
            self.consumer_bound,
        ):
            gauge.labels(trigger).set(0)
