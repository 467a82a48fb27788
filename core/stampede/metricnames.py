"""Metric names and latency stage labels that cross process boundaries.

Each service defines its own metrics (its ``metrics.py``); the operator tools (``stampede top``,
``stampede bench``), the Grafana dashboard and the alert rules read them from outside. The names
those readers depend on are defined here once, and both sides import them, so a rename is one
edit and a typo is an import error rather than a silently empty panel.
"""

from __future__ import annotations

import enum


class Stage(str, enum.Enum):
    """``stage`` label of the end-to-end latency histograms, in pipeline order."""

    BRIDGE_ACKED = "bridge_acked"  # JetStream acknowledged the bridge's publish
    DISPATCH = "dispatch"  # the function acknowledged the delivery
    BOARD_WRITE = "board_write"  # the function's Redis write landed
    CLIENT_SEND = "client_send"  # the gateway sent the diff to a browser


# Latency from the bridge reading the frame / from the exchange timestamp, by Stage.
PIPELINE_LATENCY = "stampede_pipeline_latency_seconds"
EXCHANGE_LATENCY = "stampede_exchange_latency_seconds"

# simulator
SIM_FRAMES_SENT = "stampede_sim_frames_sent_total"
SIM_EVENTS_SENT = "stampede_sim_events_sent_total"

# bridge
BRIDGE_FRAMES_RECEIVED = "stampede_bridge_frames_received_total"
BRIDGE_EVENTS = "stampede_bridge_events_total"
BRIDGE_PUBLISHED_EVENTS = "stampede_bridge_published_events_total"
BRIDGE_CLOUDEVENTS_PUBLISHED = "stampede_bridge_cloudevents_published_total"
BRIDGE_DROPPED_FRAMES = "stampede_bridge_dropped_frames_total"
BRIDGE_DROPPED_EVENTS = "stampede_bridge_dropped_events_total"
BRIDGE_QUEUE_DEPTH = "stampede_bridge_queue_depth_frames"
BRIDGE_PUBLISH_LATENCY = "stampede_bridge_publish_latency_seconds"
BRIDGE_RECONNECTS = "stampede_bridge_reconnects_total"

# dispatch
DISPATCH_DELIVERIES = "stampede_dispatch_deliveries_total"
DISPATCH_CONSUMER_PENDING = "stampede_dispatch_consumer_pending"
DISPATCH_CONSUMER_ACK_PENDING = "stampede_dispatch_consumer_ack_pending"
DISPATCH_EXPIRED = "stampede_dispatch_expired_total"
DISPATCH_INFLIGHT = "stampede_dispatch_inflight"
DISPATCH_REPLICA_DELIVERIES = "stampede_dispatch_replica_deliveries_total"

# functions
FUNCTION_EVENTS_APPLIED = "stampede_function_events_applied_total"
FUNCTION_BATCHES = "stampede_function_batches_total"
FUNCTION_DROPPED = "stampede_function_dropped_total"
FUNCTION_REDIS_APPLY = "stampede_function_redis_apply_duration_seconds"

# gateway
GATEWAY_TICKS = "stampede_gateway_ticks_total"
GATEWAY_TICK_DURATION = "stampede_gateway_tick_duration_seconds"
GATEWAY_CHANGED_ROWS = "stampede_gateway_changed_rows_total"
GATEWAY_DIFFS_SENT = "stampede_gateway_diffs_sent_total"
GATEWAY_SENT_BYTES = "stampede_gateway_sent_bytes_total"
GATEWAY_CLIENTS = "stampede_gateway_clients"
