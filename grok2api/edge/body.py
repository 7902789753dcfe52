"""The one reader of request bodies: size, time, UTF-8 and JSON checked once, for the API and the admin.

Every failure is an ApiError, so the edge's error envelope answers it in the caller's envelope (OpenAI,
Anthropic, or the admin's JSON). A JSON body is refused (400) when it is empty, not UTF-8, not JSON,
nested deeper than MAX_DEPTH, holds a number literal longer than MAX_NUMBER_CHARS or one that is not
finite (1e309, NaN, Infinity), or a lone UTF-16 surrogate (`"\\ud800"`, which no upstream can encode).
Multipart bodies get the same time limit, and a truncated or malformed one is a 400.

Parsing: orjson first (several times faster on agent-sized bodies), the stdlib with the checks
above whenever orjson refuses a body or might read a number differently, so every answer, refusal
messages included, is the stdlib path's.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import re
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestPayloadError
import orjson
from multidict import MultiDictProxy

from .. import jsonfast
from ..errors import ApiError, InvalidRequest
from ..keys import BODY_MODEL, LIVE_SETTINGS

MAX_DEPTH = 100  # arrays/objects inside each other; real clients (tool schemas included) stay far below
MAX_NUMBER_CHARS = 100  # digits of a number literal; Python refuses ints over 4,300 digits with a ValueError
_SURROGATE = re.compile("[\ud800-\udfff]")
_MALFORMED = (RequestPayloadError, HttpProcessingError, ValueError, AssertionError, UnicodeDecodeError)


class RequestTimeout(ApiError):
    status = 408
    type = "invalid_request_error"
    code = "request_timeout"


class _Refused(ValueError):
    """A JSON literal the reader will not turn into a value."""


def _int(text: str) -> int:
    if len(text) > MAX_NUMBER_CHARS:
        raise _Refused(f"an integer of {len(text)} digits (at most {MAX_NUMBER_CHARS})")
    return int(text)


def _float(text: str) -> float:
    value = float(text) if len(text) <= MAX_NUMBER_CHARS else math.inf
    if not math.isfinite(value):
        raise _Refused(f"the number {text[:24]}{'…' if len(text) > 24 else ''} is out of range")
    return value


def _constant(name: str) -> Any:
    raise _Refused(f"{name} is not a JSON number")


def _path(parts: list[str | int]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def _tree_ok(value: Any) -> bool:
    """check_tree's conditions without building paths: most bodies pass, and only a refusal needs one."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    pop, push = stack.pop, stack.append
    while stack:
        item, depth = pop()
        if depth > MAX_DEPTH:
            return False
        if isinstance(item, str):
            if not item.isascii() and _SURROGATE.search(item):
                return False
        elif isinstance(item, dict):
            depth += 1
            for key, child in item.items():
                if not key.isascii() and _SURROGATE.search(key):
                    return False
                push((child, depth))
        elif isinstance(item, list):
            depth += 1
            for child in item:
                push((child, depth))
    return True


def _shallow(value: Any) -> bool:
    """No container nested deeper than MAX_DEPTH (scalars below the limit are the stdlib path's to word)."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    pop, push = stack.pop, stack.append
    while stack:
        item, depth = pop()
        if depth >= MAX_DEPTH:
            return False
        depth += 1
        for child in item.values() if type(item) is dict else item:
            if type(child) is dict or type(child) is list:
                push((child, depth))
    return True


def check_tree(value: Any) -> None:
    """Depth and lone surrogates, iteratively (a deep body must not exhaust our own stack)."""
    if _tree_ok(value):
        return
    stack: list[tuple[Any, list[str | int]]] = [(value, [])]
    while stack:
        item, where = stack.pop()
        if len(where) > MAX_DEPTH:
            raise InvalidRequest(f"The request body is nested deeper than {MAX_DEPTH} levels.", code="invalid_json")
        if isinstance(item, str):
            if not item.isascii() and _SURROGATE.search(item):
                raise InvalidRequest(f"`{_path(where) or 'body'}` holds a lone UTF-16 surrogate, which is not text.",
                                     param=_path(where) or None, code="invalid_json")
        elif isinstance(item, dict):
            for key, child in item.items():
                if not key.isascii() and _SURROGATE.search(key):
                    raise InvalidRequest("A key of the request body holds a lone UTF-16 surrogate.",
                                         code="invalid_json")
                stack.append((child, [*where, key]))
        elif isinstance(item, list):
            stack.extend((child, [*where, i]) for i, child in enumerate(item))


def parse_json(raw: bytes) -> Any:
    """The JSON value of a body, checked (see the module docstring); raises InvalidRequest."""
    if not raw.strip():
        raise InvalidRequest("The request body is empty; send a JSON object.", code="invalid_json")
    if not jsonfast.may_read_differently(raw):
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass  # the stdlib path below words the refusal
        else:
            # orjson refuses lone surrogates itself; a deep body is refused, and worded, by the stdlib path.
            if not isinstance(value, (dict, list)) or _shallow(value):
                return value
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidRequest(f"The request body is not valid UTF-8 (byte {exc.start}).", code="invalid_json") from None
    try:
        value = json.loads(text, parse_int=_int, parse_float=_float, parse_constant=_constant)
    except _Refused as exc:
        raise InvalidRequest(f"The request body holds {exc}.", code="invalid_json") from None
    except json.JSONDecodeError as exc:
        raise InvalidRequest(f"The request body is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno}).",
                             code="invalid_json") from None
    except RecursionError:
        raise InvalidRequest(f"The request body is nested deeper than {MAX_DEPTH} levels.", code="invalid_json") \
            from None
    check_tree(value)
    return value


def body_timeout(request: web.Request) -> float:
    return float(request.config_dict[LIVE_SETTINGS].current.security.client_body_timeout_sec)


async def _read_all(request: web.Request) -> bytes:
    """request.read() without its cache: aiohttp keeps what it read for the life of the request, and a
    streamed answer's request lives as long as the stream (an agent's 200 KB prompt stayed resident
    beside its parsed messages). The same size limit, as the same exception."""
    limit = request.client_max_size
    content = request.content
    if limit:
        content.set_read_chunk_size(limit)  # as request.read() does: compressed bodies inflate in large steps
    chunks: list[bytes] = []
    size = 0
    while chunk := await content.readany():
        size += len(chunk)
        if limit and size > limit:
            raise web.HTTPRequestEntityTooLarge(limit, size)
        chunks.append(chunk)
    request[BODY_MODEL] = ""
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def read_bytes(request: web.Request) -> bytes:
    """The whole body within `security.client_body_timeout_sec` (408 after); the size limit is
    aiohttp's client_max_size, turned into a 413 by the edge's body limit. Read once: the bytes are
    not kept on the request."""
    try:
        if request.content.is_eof():
            return await _read_all(request)  # all of it arrived with the head (most API calls): nothing to time
        async with asyncio.timeout(body_timeout(request)):
            return await _read_all(request)
    except TimeoutError:
        raise RequestTimeout(f"The request body did not arrive within {body_timeout(request):g} s.") from None
    except (RequestPayloadError, HttpProcessingError):
        raise InvalidRequest("The request body ended early or is malformed.", code="invalid_body") from None


def _named_model(request: web.Request, value: Any) -> Any:
    """The value, after noting the `model` it names (BODY_MODEL) for a refusal's log line."""
    model = value.get("model") if isinstance(value, dict) else None
    if isinstance(model, str):
        request[BODY_MODEL] = model[:100]
    return value


async def read_json(request: web.Request) -> Any:
    """The checked JSON value of the body."""
    return _named_model(request, parse_json(await read_bytes(request)))


async def read_object(request: web.Request, *, empty_ok: bool = False) -> dict[str, Any]:
    """The body as a JSON object; an absent or empty body is `{}` when `empty_ok`."""
    raw = await read_bytes(request)
    if empty_ok and not raw.strip():
        return {}
    value = _named_model(request, parse_json(raw))
    if not isinstance(value, dict):
        raise InvalidRequest("The request body must be a JSON object.", code="invalid_json")
    return value


@contextlib.asynccontextmanager
async def reading(request: web.Request) -> AsyncIterator[None]:
    """Around a streamed read of the body (multipart parts): the body timeout, and a truncated or
    malformed body as a 400 instead of the parser's exception."""
    try:
        async with asyncio.timeout(body_timeout(request)):
            yield
    except TimeoutError:
        raise RequestTimeout(f"The request body did not arrive within {body_timeout(request):g} s.") from None
    except web.HTTPException:
        raise  # 413 from client_max_size: the edge's body limit words it
    except _MALFORMED:
        raise InvalidRequest("The request body is truncated or malformed.", code="invalid_body") from None


async def read_form(request: web.Request) -> MultiDictProxy[Any]:
    """A urlencoded or multipart form (aiohttp caches it: later calls return the same form)."""
    async with reading(request):
        return await request.post()
