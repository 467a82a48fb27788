"""A protocol-faithful Massive stocks simulator: WebSocket feed, REST endpoints, ground truth."""
