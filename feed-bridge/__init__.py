"""The feed bridge: one Massive WebSocket in, CloudEvents on NATS JetStream out."""
