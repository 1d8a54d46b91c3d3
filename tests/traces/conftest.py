"""Trace-layer fixtures: the throwaway PostgreSQL server of the gateway tests, reused."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from gateway_fixtures import gateway_conftest  # noqa: E402

postgres_url = gateway_conftest.postgres_url
