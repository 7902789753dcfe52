"""The chat path through the real gateway (against fakegrok): records reach the stats and /metrics."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from grok2api import fakegrok
from grok2api.fakegrok import FakeConfig
from grok2api.keys import POOL, RECORDER, STORAGE
from grok2api.pool.ops import import_tokens
from grok2api.storage.base import LogQuery
from tests.conftest import make_settings
from tests.edge.conftest import KEY

TOKEN = "sso-hygiene-records-" + "t" * 32


async def test_chat_records_flow_to_stats_and_metrics(tmp_path: Path, aiohttp_client: Any,
                                                      aiohttp_server: Any) -> None:
    fake = await aiohttp_server(fakegrok.make_app(FakeConfig(first_frame_delay=0.05, token_interval=0.01)))
    url = str(fake.make_url("")).rstrip("/")
    env = {"GROK2API_APP_API_KEY": KEY, "GROK2API_NETWORK_GROK_URL": url, "GROK2API_NETWORK_ASSETS_URL": url,
           "GROK2API_NETWORK_ACCOUNTS_URL": url, "GROK2API_TOKEN_AUTO_REFRESH": "false"}
    from grok2api.app import make_app

    app = make_app(make_settings(tmp_path, env=env))
    http = await aiohttp_client(app)
    await import_tokens(app[STORAGE], TOKEN, default_pool="basic")
    await app[POOL].sync()
    headers = {"Authorization": f"Bearer {KEY}"}
    body = {"model": "grok-4", "messages": [{"role": "user", "content": "hello"}]}
    for stream in (False, True, False):
        resp = await http.post("/v1/chat/completions", json={**body, "stream": stream}, headers=headers)
        assert resp.status == 200
        assert resp.headers["Server-Timing"].startswith("gateway;dur=")
        await resp.read()
    assert (await http.get("/v1/models", headers={"Authorization": "Bearer nope"})).status == 401

    await app[RECORDER].flush()
    logs, total = await app[STORAGE].query_logs(LogQuery(limit=50))
    assert total == 4
    assert sorted((e.status, e.model, e.stream) for e in logs) == [
        (200, "grok-4", False), (200, "grok-4", False), (200, "grok-4", True), (401, "", False)]

    text = await (await http.get("/metrics")).text()
    values = {(s.name, tuple(sorted(s.labels.items()))): s.value
              for f in text_string_to_metric_families(text) for s in f.samples}
    assert values[("grok2api_requests_total", (("kind", ""), ("model", "grok-4"), ("status", "200")))] == 3
    assert values[("grok2api_time_to_first_token_seconds_count", (("model", "grok-4"),))] == 3
    assert values[("grok2api_accounts", (("pool", "basic"), ("status", "active")))] == 1
