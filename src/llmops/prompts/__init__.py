"""Versioned prompts: YAML drafts, immutable releases, labels, strict rendering, MLflow sync."""

from __future__ import annotations

from llmops.prompts.diff import Change, PromptDiff
from llmops.prompts.lint import LintProblem
from llmops.prompts.lock import LockFile
from llmops.prompts.model import Message, Params, PromptFile, Variable, content_hash
from llmops.prompts.registry import (
    LabelResult,
    PromptRegistry,
    PromptSummary,
    ReleaseResult,
    load_registry,
    parse_ref,
)
from llmops.prompts.version import PromptVersion, RenderedPrompt

__all__ = [
    "Change",
    "LabelResult",
    "LintProblem",
    "LockFile",
    "Message",
    "Params",
    "PromptDiff",
    "PromptFile",
    "PromptRegistry",
    "PromptSummary",
    "PromptVersion",
    "ReleaseResult",
    "RenderedPrompt",
    "Variable",
    "content_hash",
    "load_registry",
    "parse_ref",
]
