"""Hand a prompt version to LangChain or LlamaIndex as their own chat prompt templates."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from llmops.prompts.template import is_plain_substitution

if TYPE_CHECKING:
    from langchain_core.prompts import ChatPromptTemplate as LCChatPromptTemplate
    from llama_index.core.prompts import ChatPromptTemplate as LIChatPromptTemplate

    from llmops.prompts.version import PromptVersion

__all__ = ["to_langchain", "to_llama_index"]

_LC_ROLES = {"system": "system", "developer": "system", "user": "human", "assistant": "ai"}
_SUBST = re.compile(r"\{\{-?\s*([A-Za-z_][A-Za-z0-9_]*)\s*-?\}\}")


def to_langchain(version: PromptVersion) -> LCChatPromptTemplate:
    """Return a LangChain ChatPromptTemplate in jinja2 format; defaults become partials."""
    from langchain_core.prompts import ChatPromptTemplate

    messages = [(_LC_ROLES[role], source) for role, source in version.message_templates()]
    template = ChatPromptTemplate.from_messages(messages, template_format="jinja2")
    defaults = {key: var.default for key, var in version.variables.items() if not var.is_required}
    return template.partial(**defaults) if defaults else template


def to_llama_index(version: PromptVersion) -> LIChatPromptTemplate:
    """Return a LlamaIndex ChatPromptTemplate rendering exactly like ``version.render``.

    Messages that only substitute variables become native ``{name}`` templates; messages with
    Jinja logic (loops, filters) are rendered by llmops through LlamaIndex function mappings.
    """
    from llama_index.core.base.llms.types import ChatMessage, MessageRole
    from llama_index.core.prompts import ChatPromptTemplate

    # LlamaIndex keeps only strings as fixed kwargs; str() is also how Jinja prints a value.
    defaults = {
        key: str(var.default) for key, var in version.variables.items() if not var.is_required
    }
    messages: list[ChatMessage] = []
    mappings: dict[str, Callable[..., str]] = {}
    for index, (role, source) in enumerate(version.message_templates()):
        li_role = MessageRole.SYSTEM if role == "developer" else MessageRole(role)
        if is_plain_substitution(source) and "{{-" not in source and "-}}" not in source:
            # Jinja drops one trailing newline of a template; do the same natively.
            content = _SUBST.sub(r"{\1}", source.removesuffix("\n"))
        else:
            slot = f"llmops_message_{index}"
            content = "{" + slot + "}"
            mappings[slot] = _message_renderer(version, index, defaults)
        messages.append(ChatMessage(role=li_role, content=content))
    template = ChatPromptTemplate(message_templates=messages, function_mappings=mappings or None)
    return template.partial_format(**defaults) if defaults else template


def _message_renderer(
    version: PromptVersion, index: int, defaults: dict[str, str]
) -> Callable[..., str]:
    def render(**kwargs: Any) -> str:
        # Stringified defaults come back as the very same objects unless the caller passed a
        # value; drop them so that render() applies the typed defaults itself.
        values = {
            k: v
            for k, v in kwargs.items()
            if k in version.variables and not (k in defaults and v is defaults[k])
        }
        return version.render(**values).messages[index]["content"]

    return render
