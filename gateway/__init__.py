"""The gateway: boards from Redis to browsers as WebSocket diffs, plus REST and the dashboard."""
