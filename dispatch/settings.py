"""The dispatcher's configuration, all from the environment (see ``stampede config``).

Routing itself (which type goes to which function, retries, backoff, dead letters) is NOT
configured here: it comes from the Knative Trigger definitions in
``manifests/base/eventing/triggers.yaml``, the same file a Knative Broker would apply.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator, model_validator

from stampede.settings import NatsSettings


class DispatchSettings(NatsSettings):
    dispatch_triggers_path: Path | None = Field(
        None,
        description="Knative Trigger YAML to route by (the cluster mounts the `stampede-triggers` "
        "ConfigMap here). Unset: `manifests/base/eventing/triggers.yaml` of the source tree "
        "(found from the installed package, then the working directory).",
    )
    dispatch_subscriber_urls: str = Field(
        "",
        description="Comma-separated `NAME=URL` overrides of subscriber addresses "
        "(e.g. `movers=http://127.0.0.1:8101`; several replicas as `URL|URL`, spread by requests in "
        "flight); others go to `http://NAME.NAMESPACE.svc.cluster.local`.",
    )
    dispatch_namespace: str = Field(
        "stampede", description="Namespace of the subscriber Knative Services (cluster-local URLs)."
    )
    dispatch_concurrency: int = Field(
        32,
        ge=1,
        le=1024,
        description="HTTP deliveries in flight at once per Trigger: its delivery lanes, each "
        "with one keep-alive connection.",
    )
    dispatch_replica_concurrency: int = Field(
        20,
        ge=1,
        le=1024,
        description="Deliveries one subscriber replica takes at once, like Knative's "
        "`containerConcurrency` (the functions' manifests say 20); a new delivery goes to the "
        "replica with the fewest in flight.",
    )
    dispatch_fetch_batch: int = Field(
        32,
        ge=1,
        le=1024,
        description="Messages pulled from JetStream per fetch; each Trigger holds at most two "
        "fetches of undelivered messages.",
    )
    dispatch_max_ack_pending: int = Field(
        1000,
        ge=1,
        description="JetStream `max_ack_pending` of each Trigger's consumer: delivered but not yet "
        "acked messages (including those waiting out a retry backoff).",
    )
    dispatch_ack_wait: float = Field(
        30.0,
        gt=0,
        description="JetStream `ack_wait` (s): a message not acked or nak'ed in this time (e.g. the "
        "dispatcher died mid-delivery) is redelivered.",
    )
    dispatch_request_timeout: float = Field(
        25.0,
        gt=0,
        description="HTTP timeout (s) of one delivery, below `DISPATCH_ACK_WAIT` (covers a Knative "
        "cold start behind the activator). A timeout counts as a failure to retry.",
    )
    dispatch_lag_poll_interval: float = Field(
        5.0,
        gt=0,
        description="Seconds between consumer-info polls (consumer lag gauge; notices a consumer "
        "that vanished with its stream and re-creates it).",
    )
    dispatch_shutdown_grace: float = Field(
        20.0,
        ge=0,
        description="On SIGTERM, seconds to let in-flight deliveries finish before nak'ing them "
        "for immediate redelivery elsewhere.",
    )

    @field_validator("dispatch_subscriber_urls")
    @classmethod
    def _well_formed_overrides(cls, value: str) -> str:
        parse_overrides(value)
        return value

    @model_validator(mode="after")
    def _timeout_below_ack_wait(self) -> DispatchSettings:
        if self.dispatch_request_timeout >= self.dispatch_ack_wait:
            raise ValueError(
                "DISPATCH_REQUEST_TIMEOUT must be below DISPATCH_ACK_WAIT, or JetStream redelivers "
                "a message while its first delivery is still running"
            )
        return self

    def subscriber_overrides(self) -> dict[str, str]:
        """``DISPATCH_SUBSCRIBER_URLS`` as a name -> base URL map."""
        return parse_overrides(self.dispatch_subscriber_urls)


def parse_overrides(value: str) -> dict[str, str]:
    overrides: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in value.split(","))):
        name, sep, urls = item.partition("=")
        replicas = [url.strip().rstrip("/") for url in urls.split("|")]
        if not sep or not name.strip() or not all("://" in url for url in replicas):
            raise ValueError(f"expected NAME=URL[|URL...] items, got {item!r}")
        overrides[name.strip()] = "|".join(replicas)
    return overrides
