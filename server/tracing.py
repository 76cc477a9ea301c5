"""OpenTelemetry tracing, off unless configured (--otlp-endpoint, --trace-file).

Server spans come from the grpc instrumentation's interceptor (incoming `traceparent` metadata
continues the caller's trace). The trace context of the request that made a change is stored in
its events (CartEvent.trace_parent), so the relay's publish span, in another process or much
later, links to the request, and RabbitMQ messages carry it as a `traceparent` header.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from opentelemetry import trace
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

_enabled = False
_propagator = TraceContextTextMapPropagator()


def configure(service: str, otlp_endpoint: str, trace_file: str) -> bool:
    """Installs a tracer provider exporting to the endpoint and/or file; False if neither."""
    global _enabled
    if not (otlp_endpoint or trace_file):
        return False
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    if otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=otlp_endpoint)))
    if trace_file:
        from server.trace_file import JsonLinesSpanExporter

        provider.add_span_processor(SimpleSpanProcessor(JsonLinesSpanExporter(Path(trace_file))))
    trace.set_tracer_provider(provider)
    _enabled = True
    return True


def server_interceptors() -> list[Any]:
    if not _enabled:
        return []
    from opentelemetry.instrumentation.grpc import aio_server_interceptor

    return [aio_server_interceptor()]  # type: ignore[no-untyped-call]


def current_traceparent() -> str:
    """The running span's W3C traceparent, or "" (always "" with tracing off)."""
    if not _enabled:
        return ""
    carrier: dict[str, str] = {}
    _propagator.inject(carrier)
    return carrier.get("traceparent", "")


def publish_span(destination: str, traceparents: Sequence[str]) -> Any:
    """A span for one relay round's publish, linked to the requests that wrote its events."""
    tracer = trace.get_tracer("cartservice.relay")
    links = []
    for parent in dict.fromkeys(p for p in traceparents if p):
        context = trace.get_current_span(_propagator.extract({"traceparent": parent}))
        links.append(trace.Link(context.get_span_context()))
    return tracer.start_as_current_span(
        f"publish {destination}",
        kind=trace.SpanKind.PRODUCER,
        links=links,
        attributes={
            "messaging.destination.name": destination,
            "messaging.batch.message_count": len(traceparents),
        },
    )


def database_span(system: str, statements: Sequence[str]) -> Any:
    """A span for one database round trip (its statements, as SQL text without values)."""
    return trace.get_tracer("cartservice.store").start_as_current_span(
        f"{system} round trip",
        kind=trace.SpanKind.CLIENT,
        attributes={"db.system": system, "db.statement": "; ".join(statements)[:4_000]},
    )


def enabled() -> bool:
    return _enabled


def shutdown() -> None:
    """Exports what is still buffered (at stop)."""
    if _enabled:
        provider = trace.get_tracer_provider()
        getattr(provider, "shutdown", lambda: None)()
