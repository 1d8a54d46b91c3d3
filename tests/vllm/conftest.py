"""The vLLM tests share the session's SmolLM2 server and vLLM interpreter (tests/conftest.py)."""
