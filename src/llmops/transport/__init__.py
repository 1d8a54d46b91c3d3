"""The one way llmops talks to model servers: a keep-alive HTTP/1.1 transport, a ``Sender``
seam with one retry/backoff policy, and one mapping from HTTP outcomes to ``UpstreamError``.

Layers point down: the gateway, the providers and the evals import this package; it imports
none of them. ``llmops.transport.httpx_adapter.HttpxTransport`` plugs it under SDK clients.
"""

from llmops.transport.exchange import (
    EndpointSender,
    Exchange,
    Sender,
    error_message,
    status_error,
    transport_error,
)
from llmops.transport.http import HttpEndpoint, HttpResponse, UpstreamClosedError
from llmops.transport.retry import GiveUp, RetryPolicy, parse_retry_after

__all__ = [
    "EndpointSender",
    "Exchange",
    "GiveUp",
    "HttpEndpoint",
    "HttpResponse",
    "RetryPolicy",
    "Sender",
    "UpstreamClosedError",
    "error_message",
    "parse_retry_after",
    "status_error",
    "transport_error",
]
