"""GET /metrics checked by Prometheus' own linter (promtool) and parser, and what it counts."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from grok2api.keys import LIVE_SETTINGS, RECORDER, STORAGE
from grok2api.storage.base import LogQuery
from tests.conformance.conftest import KEY, Stack
from tests.conftest import make_settings
from tests.test_cli import free_port

PROMTOOL = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "promtool"
AUTH = {"Authorization": f"Bearer {KEY}"}
HELLO = {"model": "grok-4", "messages": [{"role": "user", "content": "hi"}]}


def promtool_problems(text: str) -> str:
    """`promtool check metrics` on the exposition: its complaints, empty when clean."""
    assert PROMTOOL.exists(), "promtool is missing: run `bash build/promtool.sh` (build/test.sh does)"
    done = subprocess.run([str(PROMTOOL), "check", "metrics"], input=text.encode(), capture_output=True,
                          timeout=60, check=False)
    return (done.stdout + done.stderr).decode().strip() + ("" if done.returncode == 0 else f" (exit {done.returncode})")


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


async def scrape(http: Any) -> str:
    async with http.get("/metrics") as resp:
        assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/plain")
        return str(await resp.text())


async def test_metrics_lint_clean_and_count_refusals(stack: Stack) -> None:
    async with stack.http.post("/v1/chat/completions", json=HELLO, headers=AUTH) as resp:
        assert resp.status == 200
    async with stack.http.post("/v1/chat/completions", data=b"{oops", headers={
            **AUTH, "Content-Type": "application/json"}) as resp:
        assert resp.status == 400
    async with stack.http.post("/v1/chat/completions", json={**HELLO, "model": "gpt-nothing"}, headers=AUTH) as resp:
        assert resp.status == 404
    async with stack.http.post("/v1/messages", json={"model": "grok-4", "messages": []},
                               headers={"x-api-key": KEY}) as resp:
        assert resp.status == 400
    async with stack.http.post("/v1/chat/completions", json=HELLO, headers={"Authorization": "Bearer sk-bad"}) as resp:
        assert resp.status == 401
    text = await scrape(stack.http)
    assert promtool_problems(text) == ""
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert all(not s.name.endswith("_created") for f in families.values() for s in f.samples)
    assert families["grok2api_request_errors"].documentation.startswith("Recorded API requests answered with an error")
    got = samples(text)

    def requests(status: str, kind: str, model: str = "-") -> float:
        return got.get(("grok2api_requests_total", (("kind", kind), ("model", model), ("status", status))), 0.0)

    # Every call is counted once: the one the gateway ran, and each refused before a model was chosen.
    assert requests("200", "", "grok-4") == 1
    assert requests("400", "invalid_json") == 1
    assert requests("404", "model_not_found", "unknown") == 1  # a name outside the catalog mints no series
    assert "gpt-nothing" not in text
    assert requests("400", "invalid_request_error", "grok-4") == 1  # the model it named
    assert requests("401", "invalid_api_key") == 1
    total = sum(v for (name, _), v in got.items() if name == "grok2api_requests_total")
    assert total == 5
    # ... and each is in the request log.
    await stack.app[RECORDER].flush()
    entries, count = await stack.app[STORAGE].query_logs(LogQuery(limit=50))
    assert count == 5
    assert sorted((e.status, e.error_kind) for e in entries) == [
        (200, ""), (400, "invalid_json"), (400, "invalid_request_error"), (401, "invalid_api_key"),
        (404, "model_not_found")]


async def test_failed_gateway_call_is_counted_once(make_stack: Any) -> None:
    empty = await make_stack()  # no account: the gateway runs, records the failure, answers 503
    async with empty.http.post("/v1/chat/completions", json=HELLO, headers=AUTH) as resp:
        assert resp.status == 503
    got = samples(await scrape(empty.http))
    counted = {k: v for k, v in got.items() if k[0] == "grok2api_requests_total"}
    assert list(counted.values()) == [1.0], counted


async def test_demo_fake_is_not_client_traffic(tmp_path: Path, aiohttp_server: Any, aiohttp_client: Any) -> None:
    from grok2api.app import make_app

    port = free_port()
    app = make_app(make_settings(tmp_path, host="127.0.0.1", port=port, demo=True))
    server = await aiohttp_server(app, port=port)
    http = await aiohttp_client(server)
    key = app[LIVE_SETTINGS].current.app.api_key
    async with http.post("/v1/chat/completions", json=HELLO, headers={"Authorization": f"Bearer {key}"}) as resp:
        assert resp.status == 200, await resp.text()
        assert "hi" in (await resp.json())["choices"][0]["message"]["content"]
    text = await scrape(http)
    assert promtool_problems(text) == ""
    routes = {dict(labels).get("route") for (name, labels) in samples(text)
              if name == "grok2api_http_requests_total"}
    # The gateway's calls to the simulated grok.com (under /_demo/grok) are not client requests.
    assert routes == {"/v1/chat/completions"}, routes
