"""Failover and the account pool, end to end: real gateway + pool + curl_cffi client against fakegrok."""

from __future__ import annotations

import asyncio
import time

import openai
import pytest

from grok2api.storage.base import Quota
from tests.gateway.conftest import REDIS_URL, MakeStack, Stack, cut_stream_text

GOOD = "sso-e2e-good-" + "g" * 32
BAD = "sso-e2e-bad-" + "x" * 32
BASIC_2 = "sso-e2e-other-" + "o" * 32
SUPER = "super-e2e-only-" + "s" * 32
HELLO = [{"role": "user", "content": "hello failover"}]


async def _prefer(stack: Stack, first: str, second: str, bucket: str = "fast") -> None:
    """max_quota picks the fuller account: make `first` the one tried first."""
    await stack.storage.set_quota(first, bucket, Quota(30, 30, 86400))
    await stack.storage.set_quota(second, bucket, Quota(10, 30, 86400))
    await stack.pool.load()


async def _hits(stack: Stack, token: str, prefix: str = "") -> list[dict]:
    """Upstream calls fakegrok saw with this account's cookie (optionally under a path prefix)."""
    return [r for r in await stack.fake_requests()
            if r["cookies"].get("sso") == token and r["path"].startswith(prefix or "/")]


def _chat_calls(records: list[dict]) -> list[dict]:
    return [r for r in records if r["path"].startswith(("/ws/mgw", "/rest/app-chat/conversations"))]


@pytest.fixture(params=["ws", "rest"])
def transport(request: pytest.FixtureRequest) -> str:
    return request.param


async def test_rate_limited_account_fails_over_and_cools_until_the_wait(make_stack: MakeStack,
                                                                        transport: str) -> None:
    stack = await make_stack({"GROK2API_CHAT_TRANSPORT": transport})
    bad, good = await stack.add_tokens([BAD, GOOD])
    await _prefer(stack, bad, good)
    stack.switches(BAD, rate_limited=300)
    before = time.time()
    result = await stack.sdk.chat.completions.create(model="grok-4", messages=HELLO)
    assert result.choices[0].message.content == "Echo: hello failover"
    assert _chat_calls(await _hits(stack, BAD)), "the rate-limited account was tried first"
    assert _chat_calls(await _hits(stack, GOOD))
    rec = await stack.account(bad)
    assert rec.status == "cooling"
    assert before + 290 <= rec.cooldown_until <= time.time() + 310
    assert rec.quota["fast"].remaining == 30  # the reservation was given back
    assert (await stack.account(good)).quota["fast"].remaining == 9  # spent on the good one
    assert stack.pool.get(bad).status == "cooling"
    # While it cools, it is not tried again.
    await stack.clear_requests()
    for _ in range(3):
        await stack.sdk.chat.completions.create(model="grok-4", messages=HELLO)
    assert await _hits(stack, BAD) == []
    assert (await stack.account(good)).quota["fast"].remaining == 6


async def test_every_account_rate_limited_is_a_503_with_retry_after(make_stack: MakeStack) -> None:
    stack = await make_stack()
    await stack.add_tokens([BAD])
    stack.switches(BAD, rate_limited=120)
    with pytest.raises(openai.InternalServerError) as info:
        await stack.sdk.chat.completions.create(model="grok-4", messages=HELLO)
    assert info.value.status_code == 503
    assert int(info.value.response.headers["Retry-After"]) >= 100
    body = info.value.body
    assert isinstance(body, dict) and body.get("type") == "service_unavailable"


async def test_401_account_marked_invalid_after_threshold_and_never_chosen(make_stack: MakeStack,
                                                                          transport: str) -> None:
    stack = await make_stack({"GROK2API_CHAT_TRANSPORT": transport, "GROK2API_TOKEN_FAIL_THRESHOLD": "2"})
    bad, good = await stack.add_tokens([BAD, GOOD])
    await _prefer(stack, bad, good)
    stack.switches(BAD, invalid_token=True)

    result = await stack.sdk.chat.completions.create(model="grok-4", messages=HELLO)
    assert result.choices[0].message.content == "Echo: hello failover"
    rec = await stack.account(bad)
    assert (rec.status, rec.fail_count) == ("active", 1)  # below the threshold: still usable

    await stack.sdk.chat.completions.create(model="grok-4", messages=HELLO)
    rec = await stack.account(bad)
    assert (rec.status, rec.fail_count) == ("invalid", 2)
    assert len(await _hits(stack, BAD)) >= 2

    await stack.clear_requests()
    for _ in range(4):
        result = await stack.sdk.chat.completions.create(model="grok-4", messages=HELLO)
        assert result.choices[0].message.content == "Echo: hello failover"
    assert await _hits(stack, BAD) == []
    assert len(_chat_calls(await _hits(stack, GOOD))) == 4
    assert (await stack.account(good)).fail_count == 0
    # Only the invalid account left: no upstream call is made for it at all.
    await stack.storage.update_account(good, status="disabled")
    await stack.pool.load()
    with pytest.raises(openai.InternalServerError) as info:
        await stack.sdk.chat.completions.create(model="grok-4", messages=HELLO)
    assert info.value.status_code == 503
    assert await _hits(stack, BAD) == []


async def test_cloudflare_403_fails_over_and_leaves_the_account_active(make_stack: MakeStack,
                                                                       transport: str) -> None:
    stack = await make_stack({"GROK2API_CHAT_TRANSPORT": transport, "GROK2API_TOKEN_FAIL_THRESHOLD": "1"})
    bad, good = await stack.add_tokens([BAD, GOOD])
    await _prefer(stack, bad, good)
    stack.switches(BAD, cloudflare={"value": True, "times": 1})
    result = await stack.sdk.chat.completions.create(model="grok-4", messages=HELLO)
    assert result.choices[0].message.content == "Echo: hello failover"
    challenged = await _hits(stack, BAD)
    assert challenged, "the challenged account was tried first"
    rec = await stack.account(bad)
    assert (rec.status, rec.fail_count, rec.cooldown_until) == ("active", 0, 0.0)
    assert rec.quota["fast"].remaining == 30
    # Not blamed: it serves the next request (it has the most quota) once the challenge is gone.
    await stack.clear_requests()
    await stack.sdk.chat.completions.create(model="grok-4", messages=HELLO)
    assert _chat_calls(await _hits(stack, BAD))
    assert (await stack.account(bad)).quota["fast"].remaining == 29


async def test_super_model_never_touches_basic_accounts(make_stack: MakeStack) -> None:
    stack = await make_stack()
    await stack.add_tokens([GOOD, BASIC_2])
    with pytest.raises(openai.InternalServerError) as info:
        await stack.sdk.chat.completions.create(model="grok-chat-auto", messages=HELLO)
    err = info.value
    assert err.status_code == 503
    assert int(err.response.headers["Retry-After"]) >= 1
    assert isinstance(err.body, dict) and err.body.get("type") == "service_unavailable"
    assert err.body.get("code") == "no_available_account"
    raw = await stack.http.post("/v1/chat/completions", headers={"Authorization": f"Bearer {stack.sdk.api_key}"},
                                json={"model": "grok-chat-auto", "messages": HELLO})
    assert raw.status == 503 and "Retry-After" in raw.headers
    payload = await raw.json()
    assert set(payload) == {"error"} and {"message", "type", "code"} <= set(payload["error"])
    assert await stack.fake_requests() == []  # no upstream call at all

    # With a super account present, it alone serves the model; basic accounts stay untouched.
    (sup,) = await stack.add_tokens([SUPER], pool="super")
    result = await stack.sdk.chat.completions.create(model="grok-chat-auto", messages=HELLO)
    assert result.choices[0].message.content == "Echo: hello failover"
    hit_tokens = {r["cookies"].get("sso") for r in await stack.fake_requests()}
    assert hit_tokens == {SUPER}
    assert (await stack.account(sup)).quota["auto"].remaining == 49


async def test_super_model_rate_limited_super_account_does_not_fall_back_to_basic(make_stack: MakeStack) -> None:
    stack = await make_stack()
    await stack.add_tokens([GOOD])
    await stack.add_tokens([SUPER], pool="super")
    stack.switches(SUPER, rate_limited=60)
    with pytest.raises(openai.InternalServerError) as info:
        await stack.sdk.chat.completions.create(model="grok-chat-auto", messages=HELLO)
    assert info.value.status_code == 503
    assert {r["cookies"].get("sso") for r in await stack.fake_requests()} == {SUPER}


async def _overspend(stack: Stack) -> None:
    (acc,) = await stack.add_tokens([GOOD])
    await stack.storage.set_quota(acc, "fast", Quota(5, 5, 86400))
    await stack.pool.load()
    stack.state.config.first_frame_delay = 0.05  # the calls overlap

    async def one() -> str:
        try:
            result = await stack.sdk.chat.completions.create(model="grok-4", messages=HELLO)
            return result.choices[0].message.content or ""
        except openai.InternalServerError as exc:
            return f"error {exc.status_code}"

    results = await asyncio.gather(*(one() for _ in range(20)))
    assert results.count("Echo: hello failover") == 5, results
    assert results.count("error 503") == 15, results
    assert len(_chat_calls(await _hits(stack, GOOD))) == 5
    assert (await stack.account(acc)).quota["fast"].remaining == 0


async def test_concurrent_requests_never_overspend_sqlite(make_stack: MakeStack) -> None:
    await _overspend(await make_stack())


async def test_concurrent_requests_never_overspend_redis(make_stack: MakeStack) -> None:
    stack = await make_stack(storage_type="redis", storage_url=REDIS_URL)
    assert type(stack.storage).__name__.lower().startswith("redis")
    await _overspend(stack)


@pytest.mark.parametrize("cut", ["stream_cut", "stream_error", "stall"])
async def test_failure_after_first_byte_ends_the_sdk_stream_with_an_error(make_stack: MakeStack,
                                                                           transport: str, cut: str) -> None:
    stack = await make_stack({"GROK2API_CHAT_TRANSPORT": transport, "GROK2API_TIMEOUT_STREAM_IDLE_TIMEOUT": "1"})
    bad, good = await stack.add_tokens([BAD, GOOD])
    await _prefer(stack, bad, good)
    stack.state.config.token_interval = 0.02
    stack.state.config.stall_seconds = 4.0
    stack.switches(BAD, **{cut: "abort" if cut == "stream_cut" else True})
    received = await cut_stream_text(stack)
    assert received.startswith("Echo:")
    if cut == "stream_cut":
        assert received != "Echo: w1 w2 w3 w4 w5 w6 w7 w8 w9 w10 w11"
    # Bytes had reached the client: no failover to the other account.
    assert _chat_calls(await _hits(stack, GOOD)) == []
    # Spent, not released: grok.com had answered (the API layer may answer a stall before the
    # gateway has unwound: poll until no lease is open).
    for _ in range(40):
        if stack.pool.reserved == 0:
            break
        await asyncio.sleep(0.05)
    rec = await stack.account(bad)
    assert stack.pool.reserved == 0
    assert rec.quota["fast"].remaining == 29 and rec.use_count == 0


@pytest.mark.parametrize("scenario", ["usage_limit", "blocked", "anti_bot"])
async def test_other_upstream_refusals_fail_over_before_the_first_byte(make_stack: MakeStack, transport: str,
                                                                      scenario: str) -> None:
    stack = await make_stack({"GROK2API_CHAT_TRANSPORT": transport,
                              "GROK2API_RETRY_RETRY_BACKOFF_BASE": "0.01", "GROK2API_RETRY_RETRY_BACKOFF_MAX": "0.02"})
    bad, good = await stack.add_tokens([BAD, GOOD])
    await _prefer(stack, bad, good)
    stack.switches(BAD, **{scenario: True})
    stream = await stack.sdk.chat.completions.create(model="grok-4", messages=HELLO, stream=True)
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text == "Echo: hello failover"
    assert await _hits(stack, BAD), "the refusing account was tried first"
    rec = await stack.account(bad)
    assert rec.quota["fast"].remaining in (0, 30)  # released (or zeroed by a usage-limit signal), never spent
    assert rec.use_count == 0
    if scenario == "usage_limit":
        assert rec.status == "cooling"


async def test_failover_is_bounded_by_max_retry(make_stack: MakeStack) -> None:
    stack = await make_stack({"GROK2API_RETRY_MAX_RETRY": "2"})
    tokens = [f"sso-e2e-limited-{i}-" + "r" * 32 for i in range(5)]
    await stack.add_tokens(tokens)
    for token in tokens:
        stack.switches(token, rate_limited=60)
    with pytest.raises(openai.InternalServerError) as info:
        await stack.sdk.chat.completions.create(model="grok-4", messages=HELLO)
    assert info.value.status_code == 503
    tried = {r["cookies"]["sso"] for r in _chat_calls(await stack.fake_requests())}
    assert len(tried) == 3  # the first account and two retries
    statuses = sorted(a.status for a in stack.pool.accounts())
    assert statuses == ["active", "active", "cooling", "cooling", "cooling"]


async def test_retry_status_codes_can_exclude_cloudflare(make_stack: MakeStack) -> None:
    stack = await make_stack({"GROK2API_RETRY_RETRY_STATUS_CODES": "[401, 429]"})
    bad, good = await stack.add_tokens([BAD, GOOD])
    await _prefer(stack, bad, good)
    stack.switches(BAD, cloudflare=True)
    with pytest.raises(openai.InternalServerError) as info:
        await stack.sdk.chat.completions.create(model="grok-4", messages=HELLO)
    assert info.value.status_code == 502
    assert await _hits(stack, GOOD) == []


async def test_two_workers_on_one_redis_never_overspend(make_stack: MakeStack) -> None:
    one = await make_stack(storage_type="redis", storage_url=REDIS_URL)
    two = await make_stack(storage_type="redis", storage_url=REDIS_URL, flush=False)
    (acc,) = await one.add_tokens([GOOD])
    await one.storage.set_quota(acc, "fast", Quota(5, 5, 86400))
    await one.pool.load()
    await two.pool.load()
    assert [a.id for a in two.pool.accounts()] == [acc]
    for stack in (one, two):
        stack.state.config.first_frame_delay = 0.05

    async def ask(stack: Stack) -> str:
        try:
            result = await stack.sdk.chat.completions.create(model="grok-4", messages=HELLO)
            return result.choices[0].message.content or ""
        except openai.InternalServerError as exc:
            return f"error {exc.status_code}"

    results = await asyncio.gather(*(ask(one if i % 2 else two) for i in range(20)))
    assert results.count("Echo: hello failover") == 5 and results.count("error 503") == 15, results
    calls = _chat_calls(await one.fake_requests()) + _chat_calls(await two.fake_requests())
    assert len(calls) == 5
    assert (await two.account(acc)).quota["fast"].remaining == 0


async def test_a_cooled_account_comes_back_after_its_wait(make_stack: MakeStack) -> None:
    stack = await make_stack()
    bad, good = await stack.add_tokens([BAD, GOOD])
    await _prefer(stack, bad, good)
    stack.switches(BAD, rate_limited={"value": 1, "times": 1})
    await stack.sdk.chat.completions.create(model="grok-4", messages=HELLO)
    rec = await stack.account(bad)
    assert rec.status == "cooling" and rec.cooldown_until <= time.time() + 1.5
    await stack.sdk.chat.completions.create(model="grok-4", messages=HELLO)  # still cooling: the other one
    await stack.clear_requests()
    await asyncio.sleep(max(0.0, rec.cooldown_until - time.time()) + 0.2)
    await stack.sdk.chat.completions.create(model="grok-4", messages=HELLO)
    assert _chat_calls(await _hits(stack, BAD)) and not _chat_calls(await _hits(stack, GOOD))
    rec = await stack.account(bad)
    assert (rec.status, rec.quota["fast"].remaining) == ("active", 29)


async def test_non_stream_stall_fails_over_then_times_out(make_stack: MakeStack, transport: str) -> None:
    """Non-streamed answers are held until Grok finishes: a stall midway tries the next account,
    and when every account stalls the client gets a 504 in the OpenAI shape."""
    stack = await make_stack({"GROK2API_CHAT_TRANSPORT": transport, "GROK2API_TIMEOUT_STREAM_IDLE_TIMEOUT": "1"})
    bad, good = await stack.add_tokens([BAD, GOOD])
    await _prefer(stack, bad, good)
    stack.state.config.stall_seconds = 4.0
    stack.switches(BAD, stall=True)
    result = await stack.sdk.chat.completions.create(
        model="grok-4", messages=[{"role": "user", "content": "slow [[tokens:6]] here"}])
    assert result.choices[0].message.content == "Echo: w1 w2 w3 w4 w5"
    assert _chat_calls(await _hits(stack, BAD)) and _chat_calls(await _hits(stack, GOOD))
    stack.switches(BAD, stall=True)
    stack.switches(GOOD, stall=True)
    with pytest.raises(openai.APIStatusError) as info:
        await stack.sdk.chat.completions.create(
            model="grok-4", messages=[{"role": "user", "content": "slow [[tokens:6]] again"}])
    assert info.value.status_code == 504
    assert info.value.body["code"] == "upstream_timeout"  # type: ignore[index]


async def test_non_stream_cut_after_first_frame_fails_over(make_stack: MakeStack) -> None:
    stack = await make_stack()
    bad, good = await stack.add_tokens([BAD, GOOD])
    await _prefer(stack, bad, good)
    stack.switches(BAD, stream_cut="abort")
    result = await stack.sdk.chat.completions.create(
        model="grok-4", messages=[{"role": "user", "content": "cut [[tokens:12]] here"}])
    assert result.choices[0].message.content == "Echo: w1 w2 w3 w4 w5 w6 w7 w8 w9 w10 w11"
