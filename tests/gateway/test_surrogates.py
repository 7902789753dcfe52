"""A lone UTF-16 surrogate is refused at the door (issue 18, point 4): it once reached the upstream
transport after an account was leased, and failed there with a 500."""

from __future__ import annotations

from tests.gateway.conftest import MakeStack


async def test_a_lone_surrogate_never_reaches_grok(make_stack: MakeStack) -> None:
    stack = await make_stack()
    await stack.add_tokens(["sso-surrogate-" + "s" * 32])
    raw = b'{"model": "grok-4", "messages": [{"role": "user", "content": "hi \\ud800 there"}]}'
    resp = await stack.http.post("/v1/chat/completions", data=raw,
                                 headers={**stack.headers(), "Content-Type": "application/json"})
    status, err = resp.status, await resp.json()
    assert status == 400 and err["error"]["param"] == "messages[0].content", err
    assert "surrogate" in err["error"]["message"]
    assert [r for r in await stack.fake_requests() if "conversations" in r["path"] or "mgw" in r["path"]] == []
    assert stack.pool.reserved == 0 and (await stack.account(stack.pool.accounts()[0].id)).quota["fast"].remaining == 30
