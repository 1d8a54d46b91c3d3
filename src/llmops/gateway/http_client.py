"""Moved to ``llmops.transport.http`` (the one transport every model call uses); kept as an alias."""

from llmops.transport.http import HttpEndpoint, HttpResponse, UpstreamClosedError

__all__ = ["HttpEndpoint", "HttpResponse", "UpstreamClosedError"]
