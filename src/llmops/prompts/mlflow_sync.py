"""``llmops prompt push``: mirror released versions into MLflow's prompt registry.

Each released version becomes one MLflow prompt version tagged with its llmops version and content
hash; labels become aliases. A second push finds every version by its tags and changes nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from llmops.errors import StateError, UpstreamError

if TYPE_CHECKING:
    from llmops.prompts.registry import PromptRegistry

__all__ = ["PushReport", "push_to_mlflow"]

TAG_VERSION = "llmops.version"
TAG_HASH = "llmops.content_hash"


class PushReport(BaseModel):
    """What a push did."""

    tracking_uri: str
    registered: list[str] = Field(default_factory=list)  # e.g. "rag-answer@2 -> mlflow v2"
    aliases: list[str] = Field(default_factory=list)  # e.g. "rag-answer@production -> v1"
    unchanged: int = 0

    @property
    def changed(self) -> bool:
        """Return True when anything was written to MLflow."""
        return bool(self.registered or self.aliases)


def _existing(client: Any, name: str) -> dict[int, Any]:
    """Return our version number -> MLflow PromptVersion for prompts llmops registered."""
    from mlflow.exceptions import MlflowException

    found: dict[int, Any] = {}
    try:
        if client.get_prompt(name) is None:
            return found
        page_token = None
        while True:
            page = client.search_prompt_versions(name, max_results=100, page_token=page_token)
            for pv in page:
                tag = (pv.tags or {}).get(TAG_VERSION)
                if tag and tag.isdigit():
                    found[int(tag)] = pv
            page_token = getattr(page, "token", None)
            if not page_token:
                return found
    except MlflowException as exc:
        raise UpstreamError(f"MLflow prompt registry: {exc.message}", provider="mlflow") from None


def _model_config(params: dict[str, Any]) -> dict[str, Any] | None:
    keys = {"temperature": "temperature", "max_tokens": "max_tokens", "top_p": "top_p"}
    config = {keys[k]: v for k, v in params.items() if k in keys}
    if "stop" in params:
        stop = params["stop"]
        config["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
    extra = {k: v for k, v in params.items() if k in ("seed", "response_format")}
    if extra:
        config["extra_params"] = extra
    return config or None


def push_to_mlflow(registry: PromptRegistry, tracking_uri: str) -> PushReport:
    """Register every released version and set labels as aliases; idempotent."""
    import mlflow
    from mlflow.exceptions import MlflowException

    client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    report = PushReport(tracking_uri=tracking_uri)
    lock = registry.read_lock()
    for name, entry in sorted(lock.prompts.items()):
        if not entry.versions:
            continue
        existing = _existing(client, name)
        for number in sorted(entry.versions):
            version = registry.get(f"{name}@{number}")  # verifies the hash
            pv = existing.get(number)
            if pv is not None:
                if pv.tags.get(TAG_HASH) != version.content_hash:
                    raise StateError(
                        f"MLflow holds a different '{name}@{number}' (content hash differs)",
                        hint="released versions are immutable; delete that MLflow prompt "
                        "version if it was pushed from another project",
                    )
                report.unchanged += 1
                continue
            if version.file.template is not None:
                template: str | list[dict[str, str]] = version.file.template
            else:
                template = [{"role": r, "content": c} for r, c in version.message_templates()]
            try:
                created = client.register_prompt(
                    name=name,
                    template=template,
                    commit_message=entry.versions[number].note or f"llmops {name}@{number}",
                    tags={TAG_VERSION: str(number), TAG_HASH: version.content_hash},
                    model_config=_model_config(version.params),
                )
            except MlflowException as exc:
                raise UpstreamError(
                    f"MLflow refused {name}@{number}: {exc.message}", provider="mlflow"
                ) from None
            existing[number] = created
            report.registered.append(f"{name}@{number} -> mlflow v{created.version}")
        for label, number in sorted(entry.labels.items()):
            target = existing.get(number)
            if target is None:
                continue  # lint reports labels on missing versions
            try:
                current = client.get_prompt_version_by_alias(name, label)
            except MlflowException:
                current = None
            if current is not None and str(current.version) == str(target.version):
                continue
            client.set_prompt_alias(name, label, int(target.version))
            report.aliases.append(f"{name}@{label} -> {name}@{number} (mlflow v{target.version})")
    return report
