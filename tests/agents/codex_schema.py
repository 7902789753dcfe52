"""A strict model of the catalogue Codex decodes from `GET /v1/models?client_version=…`.

Written from Codex's own declaration (codex-rs `ModelsResponse` / `ModelInfo` and the enums they
use, in the release whose `ApplyPatchToolType` has only `Freeform`, as Codex 0.171 has). Serde
semantics, mirrored: a field without a default is required; an `Option<T>` may be absent or null;
enums are closed lists of snake_case/lowercase names. Stricter than Codex on purpose: unknown keys
are refused (Codex ignores them), so a typo cannot hide, and types are not coerced.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

ReasoningEffort = Literal["none", "minimal", "low", "medium", "high", "xhigh", "max", "ultra"]
ConfigShellToolType = Literal["default", "local", "unified_exec", "disabled", "shell_command"]
ModelVisibility = Literal["list", "hide", "none"]
ApplyPatchToolType = Literal["freeform"]
WebSearchToolType = Literal["text", "text_and_image"]
TruncationMode = Literal["bytes", "tokens"]
ReasoningSummary = Literal["auto", "concise", "detailed", "none"]
Verbosity = Literal["low", "medium", "high"]
InputModality = Literal["text", "image"]
ToolMode = Literal["direct", "code_mode", "code_mode_only"]
MultiAgentVersion = Literal["disabled", "v1", "v2"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class ReasoningEffortPreset(Strict):
    effort: ReasoningEffort
    description: str


class ModelServiceTier(Strict):
    id: str
    name: str
    description: str


class ModelAvailabilityNux(Strict):
    message: str


class ModelInfoUpgrade(Strict):
    model: str
    migration_markdown: str


class ModelInstructionsVariables(Strict):
    personality_default: str | None = None
    personality_friendly: str | None = None
    personality_pragmatic: str | None = None


class ModelMessages(Strict):
    instructions_template: str | None = None
    instructions_variables: ModelInstructionsVariables | None = None


class TruncationPolicyConfig(Strict):
    mode: TruncationMode
    limit: int


class ModelInfo(Strict):
    slug: str
    display_name: str
    description: str | None = None
    default_reasoning_level: ReasoningEffort | None = None
    supported_reasoning_levels: list[ReasoningEffortPreset]
    shell_type: ConfigShellToolType
    visibility: ModelVisibility
    supported_in_api: bool
    priority: int
    additional_speed_tiers: list[str] = []
    service_tiers: list[ModelServiceTier] = []
    default_service_tier: str | None = None
    availability_nux: ModelAvailabilityNux | None = None
    upgrade: ModelInfoUpgrade | None = None
    base_instructions: str
    model_messages: ModelMessages | None = None
    include_skills_usage_instructions: bool = False
    supports_reasoning_summary_parameter: bool = True
    default_reasoning_summary: ReasoningSummary = "auto"
    support_verbosity: bool
    default_verbosity: Verbosity | None = None
    apply_patch_tool_type: ApplyPatchToolType | None = None
    web_search_tool_type: WebSearchToolType = "text"
    truncation_policy: TruncationPolicyConfig
    supports_parallel_tool_calls: bool
    supports_image_detail_original: bool = False
    context_window: int | None = None
    max_context_window: int | None = None
    auto_compact_token_limit: int | None = None
    comp_hash: str | None = None
    effective_context_window_percent: int = 95
    experimental_supported_tools: list[str]
    input_modalities: list[InputModality] = ["text", "image"]
    supports_search_tool: bool = False
    use_responses_lite: bool = False
    auto_review_model_override: str | None = None
    tool_mode: ToolMode | None = None
    multi_agent_version: MultiAgentVersion | None = None
    # Gone from 0.171's ModelInfo (ignored there) but a required field of earlier releases.
    supports_reasoning_summaries: bool


class ModelsResponse(Strict):
    models: list[ModelInfo]
