"""Trace-layer fixtures: the throwaway PostgreSQL server of the gateway tests, reused."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

_GATEWAY = Path(__file__).resolve().parents[1] / "gateway"
_spec = importlib.util.spec_from_file_location("_gateway_conftest", _GATEWAY / "conftest.py")
assert _spec is not None and _spec.loader is not None
_gateway_conftest = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("_gateway_conftest", _gateway_conftest)
_spec.loader.exec_module(_gateway_conftest)

postgres_url = _gateway_conftest.postgres_url
