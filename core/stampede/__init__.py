"""Stampede's shared core: what every deployable needs and none owns.

Market event models (``market``), trade-condition rules (``conditions``), CloudEvent types and
the NATS binding (``events``, ``nats_binding``), bus subjects (``subjects``), the Redis key
schema and board catalogue (``keys``, ``boards``), market time (``markettime``), settings,
telemetry and service plumbing, and the local server processes (``localstack``).
"""

__version__ = "0.1.0"
