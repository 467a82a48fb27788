"""``stampede dispatch``: the local broker. JetStream -> function services, per the Knative Triggers.

Reads the Trigger definitions (``DISPATCH_TRIGGERS_PATH``, default the source tree's
``manifests/base/eventing/triggers.yaml``), consumes each Trigger's CloudEvent type from its
JetStream stream with a durable pull consumer, and POSTs every event to the Trigger's subscriber
in HTTP binary content mode, with Knative's retry, backoff and dead-letter rules.
Configuration comes from the environment (``stampede config``); the flags place the status
server (/healthz, /readyz, /metrics). ``--routes`` prints the routing table and exits.
Exit codes: 0 after a clean stop (SIGTERM or SIGINT), 2 for bad configuration or Triggers.
"""

from __future__ import annotations

import json
import sys

from stampede import service
from stampede.dispatch.dispatcher import Dispatcher
from stampede.dispatch.settings import DispatchSettings
from stampede.dispatch.triggers import (
    Trigger,
    default_triggers_path,
    load_triggers,
    routable,
)
from stampede.telemetry import setup_logging, setup_tracing


def configured_triggers(settings: DispatchSettings) -> list[Trigger]:
    path = settings.dispatch_triggers_path or default_triggers_path()
    return load_triggers(path, settings.dispatch_namespace, settings.subscriber_overrides())


def routes(triggers: list[Trigger]) -> list[dict[str, object]]:
    return [
        {
            "trigger": t.name,
            "type": t.event_type,
            "stream": t.stream if t.route else None,
            "url": t.url,
            "retry": t.delivery.retry,
            "backoff": f"{t.delivery.backoff_policy} {t.delivery.backoff_delay}s",
            "dead_letter": t.dlq_subject if t.delivery.dead_letter else None,
        }
        for t in triggers
    ]


async def serve(settings: DispatchSettings, triggers: list[Trigger], host: str, port: int) -> int:
    dispatcher = Dispatcher(
        settings, routable(triggers), tracer=setup_tracing(settings, "dispatch")
    )
    await service.serve_worker(
        dispatcher, "stampede dispatch", dispatcher.metrics.registry, host, port
    )
    return service.EXIT_OK


def main(argv: list[str]) -> int:
    parser = service.worker_arguments("stampede dispatch", __doc__)
    parser.add_argument(
        "--routes", action="store_true", help="print the routing table (JSON) and exit"
    )
    args = parser.parse_args(argv)
    settings = service.load_settings(DispatchSettings, "stampede dispatch")
    try:
        triggers = configured_triggers(settings)
    except (OSError, ValueError) as exc:  # TriggerError is a ValueError; missing file an OSError
        print(f"stampede dispatch: bad triggers: {exc}", file=sys.stderr)
        return service.EXIT_CONFIG
    if args.routes:
        print(json.dumps(routes(triggers), indent=2))
        return service.EXIT_OK
    setup_logging(settings, "dispatch")
    return service.run_worker(serve(settings, triggers, args.host, args.port))
