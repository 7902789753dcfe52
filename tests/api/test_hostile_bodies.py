"""The attack run's bodies, one by one (issue 18, point 4): each is a 4xx in the surface's envelope."""

from __future__ import annotations

import json

import pytest

from tests.api.conftest import MakeApi

CHAT = {"model": "grok-4", "messages": [{"role": "user", "content": "hi"}]}


async def _post(api, path: str, raw: bytes) -> tuple[int, dict]:  # noqa: ANN001 - Api or Stack
    resp = await api.http.post(path, data=raw, headers={**api.headers(), "Content-Type": "application/json"})
    return resp.status, await resp.json()


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/responses", "/v1/messages", "/v1/images/generations",
                                  "/v1/videos"])
async def test_huge_integers_deep_nesting_and_non_finite_numbers_are_400(make_api: MakeApi, path: str) -> None:
    api = await make_api()
    body = json.dumps(CHAT)
    for raw in (body.replace("{", '{"seed": ' + "9" * 4301 + ", ", 1), body.replace("{", '{"x": ' + "[" * 1000
                + "]" * 1000 + ", ", 1), body.replace("{", '{"temperature": 1e309, ', 1), '{"top_p": NaN}', ""):
        status, err = await _post(api, path, raw.encode())
        assert status == 400, (raw[:60], status, err)
        if path == "/v1/messages":
            assert err["type"] == "error" and err["error"]["type"] == "invalid_request_error"
        else:
            assert err["error"]["code"] == "invalid_json", err


@pytest.mark.parametrize(("field", "value"), [
    ("stop", 5), ("stop", [1]), ("seed", "42"), ("seed", 1.5), ("logit_bias", []), ("logit_bias", {"50256": "x"}),
    ("user", {"id": 1}), ("response_format", "json"), ("metadata", {"a": 1}), ("logprobs", "yes"),
    ("top_logprobs", "2"), ("store", 1), ("service_tier", 3), ("modalities", "text"), ("tool_choice", 1),
    ("prediction", "x"), ("audio", True), ("web_search_options", []), ("function_call", 2),
])
async def test_wrong_typed_optional_chat_fields_are_refused_by_name(make_api: MakeApi, field: str,
                                                                    value: object) -> None:
    api = await make_api()
    status, err = await _post(api, "/v1/chat/completions", json.dumps({**CHAT, field: value}).encode())
    assert status == 400, err
    assert err["error"]["param"].split("[")[0].split(".")[0] == field, err
    assert api.gateway.jobs == []  # nothing was passed on


async def test_well_typed_fields_grok_cannot_honour_are_ignored(make_api: MakeApi) -> None:
    api = await make_api()
    body = {**CHAT, "stop": ["\n"], "seed": 7, "logit_bias": {"50256": -100}, "user": "u1", "metadata": {"a": "b"},
            "response_format": {"type": "text"}, "logprobs": False, "store": True, "service_tier": "auto",
            "unknown_future_field": {"anything": [1, 2]}}
    status, _ = await _post(api, "/v1/chat/completions", json.dumps(body).encode())
    assert status == 200


@pytest.mark.parametrize("field", ["service_tier", "container", "mcp_servers", "top_k"])
async def test_wrong_typed_optional_messages_fields_are_refused(make_api: MakeApi, field: str) -> None:
    api = await make_api()
    body = {"model": "grok-4", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}], field: 3.5}
    status, err = await _post(api, "/v1/messages", json.dumps(body).encode())
    assert status == 400 and err["type"] == "error" and field in err["error"]["message"], err
