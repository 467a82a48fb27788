"""The bridge's Prometheus metrics, in a registry of its own (one per bridge instance).

Drops are split by unit: whole frames (queue_full, invalid_json, not_array) and single events
(stale, unknown_ev, invalid_event, publish_failed), so each counter adds up meaningfully.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from stampede import metricnames as names
from stampede.market import Channel
from stampede.telemetry import LATENCY_BUCKETS, pipeline_latency_histogram


class BridgeMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.frames = Counter(
            names.BRIDGE_FRAMES_RECEIVED,
            "WebSocket frames read from Massive.",
            registry=r,
        )
        self.bytes_received = Counter(
            "stampede_bridge_received_bytes_total", "Bytes of frames read from Massive.", registry=r
        )
        self.events = Counter(
            names.BRIDGE_EVENTS,
            "Market events decoded from frames, by channel.",
            ["channel"],
            registry=r,
        )
        self.queue_depth = Gauge(
            names.BRIDGE_QUEUE_DEPTH,
            "Frames waiting between reader and publisher.",
            registry=r,
        )
        self.dropped_frames = Counter(
            names.BRIDGE_DROPPED_FRAMES,
            "Whole frames dropped, by reason.",
            ["reason"],
            registry=r,
        )
        self.dropped_events = Counter(
            names.BRIDGE_DROPPED_EVENTS,
            "Market events dropped, by reason.",
            ["reason"],
            registry=r,
        )
        self.reconnects = Counter(
            names.BRIDGE_RECONNECTS,
            "Feed (re)connection attempts after a loss, by reason.",
            ["reason"],
            registry=r,
        )
        self.connect_attempts = Counter(
            "stampede_bridge_connect_attempts_total",
            "Feed connection attempts (a reconnect storm shows here: bounded by the backoff).",
            registry=r,
        )
        self.feed_state = Gauge(
            "stampede_bridge_feed_state",
            "1 for the feed link's current state (connecting, connected, backoff, standby, idle, "
            "stopped), 0 for the others.",
            ["state"],
            registry=r,
        )
        self.peer_reports = Counter(
            "stampede_bridge_peer_reports_total",
            "Feed link reports heard from other bridges on NATS, by outcome (ok, bad).",
            ["outcome"],
            registry=r,
        )
        self.statuses = Counter(
            "stampede_bridge_feed_statuses_total",
            "Status objects received from Massive, by status.",
            ["status"],
            registry=r,
        )
        self.feed_connected = Gauge(
            "stampede_bridge_feed_connected",
            "1 while the feed is connected and authenticated.",
            registry=r,
        )
        self.feed_idle = Gauge(
            "stampede_bridge_feed_idle",
            "1 while the feed is released by the market-hours schedule.",
            registry=r,
        )
        self.nats_connected = Gauge(
            "stampede_bridge_nats_connected",
            "1 while NATS is connected and streams are in place.",
            registry=r,
        )
        self.published = Counter(
            names.BRIDGE_CLOUDEVENTS_PUBLISHED,
            "CloudEvents acknowledged by JetStream, by channel.",
            ["channel"],
            registry=r,
        )
        self.published_events = Counter(
            names.BRIDGE_PUBLISHED_EVENTS,
            "Market events inside acknowledged CloudEvents, by channel.",
            ["channel"],
            registry=r,
        )
        self.published_bytes = Counter(
            "stampede_bridge_published_bytes_total",
            "Payload bytes of acknowledged CloudEvents, by channel.",
            ["channel"],
            registry=r,
        )
        self.duplicates = Counter(
            "stampede_bridge_duplicates_total",
            "Publishes JetStream recognised as duplicates (same CloudEvent id).",
            registry=r,
        )
        self.publish_errors = Counter(
            "stampede_bridge_publish_errors_total",
            "CloudEvents given up unacknowledged (retried until their max age), by last reason.",
            ["reason"],
            registry=r,
        )
        self.publish_retries = Counter(
            "stampede_bridge_publish_retries_total",
            "Publishes sent again after a failure, while their events were younger than max age.",
            registry=r,
        )
        self.unacked = Gauge(
            "stampede_bridge_unacked_publishes",
            "Publishes sent and not yet acknowledged.",
            registry=r,
        )
        self.publish_latency = Histogram(
            names.BRIDGE_PUBLISH_LATENCY,
            "JetStream publish to ack.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.pipeline_latency = pipeline_latency_histogram(r)
        # Label children resolved once: the hot path must not pay for .labels() per batch.
        self.events_by_channel = {ch: self.events.labels(ch.value) for ch in Channel}
        self.published_by_channel = {ch: self.published.labels(ch.value) for ch in Channel}
        self.published_events_by_channel = {
            ch: self.published_events.labels(ch.value) for ch in Channel
        }
        self.published_bytes_by_channel = {
            ch: self.published_bytes.labels(ch.value) for ch in Channel
        }
        self.acked_latency = self.pipeline_latency.labels(names.Stage.BRIDGE_ACKED.value)
