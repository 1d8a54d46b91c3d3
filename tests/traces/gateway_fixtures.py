"""The gateway tests' conftest, loaded once as a module for the trace, monitor and dashboard
tests: its throwaway PostgreSQL server (``postgres_url``) and, on ``sys.path``, its helpers."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

GATEWAY = Path(__file__).resolve().parents[1] / "gateway"
if str(GATEWAY) not in sys.path:
    sys.path.insert(0, str(GATEWAY))  # gateway_helpers: running_gateway, http_pool


def _load() -> ModuleType:
    found = sys.modules.get("_gateway_conftest")
    if found is None:
        spec = importlib.util.spec_from_file_location("_gateway_conftest", GATEWAY / "conftest.py")
        assert spec is not None and spec.loader is not None
        found = importlib.util.module_from_spec(spec)
        sys.modules["_gateway_conftest"] = found
        spec.loader.exec_module(found)
    return found


gateway_conftest = _load()


def fresh_database(server_url: str) -> str:
    """Return the URL of a new, empty database on the PostgreSQL server at ``server_url`` (tests
    share the server and do not see each other's rows)."""
    import random

    import sqlalchemy as sa

    name = f"t{random.randrange(10**9)}"
    engine = sa.create_engine(server_url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text(f"CREATE DATABASE {name}"))
    engine.dispose()
    return server_url.rsplit("/", 1)[0] + f"/{name}"
