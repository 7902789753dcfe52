"""GET /metrics parses with prometheus_client's parser and its counters match what was sent."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from grok2api.keys import RECORDER
from tests.edge.conftest import MakeGw


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


async def test_metrics_counters_match_requests(make_gw: MakeGw) -> None:
    gw = await make_gw(env={"GROK2API_SECURITY_RATE_LIMIT_PER_MINUTE": "60",
                            "GROK2API_SECURITY_RATE_LIMIT_BURST": "12"})
    for _ in range(7):
        assert (await gw.http.get("/v1/models", headers=gw.headers())).status == 200
    for _ in range(3):
        assert (await gw.http.get("/v1/models", headers=gw.headers("sk-wrong"))).status == 401
    assert (await gw.http.get("/v1/nothing-here", headers=gw.headers())).status == 404
    statuses = [(await gw.http.get("/v1/models", headers=gw.headers())).status for _ in range(3)]
    assert statuses == [200, 429, 429]  # the 12th request is the last of the burst
    recorded = gw.app[RECORDER].recorded

    resp = await gw.http.get("/metrics")
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("text/plain")
    text = await resp.text()
    m = samples(text)

    def http(route: str, status: str) -> float:
        return m.get(("grok2api_http_requests_total",
                      (("method", "GET"), ("route", route), ("status", status))), 0.0)

    assert http("/v1/models", "200") == 8
    assert http("/v1/models", "401") == 3
    assert http("/v1/models", "429") == 2
    assert http("unmatched", "404") == 1
    # Rejections are recorded (stats + request log), and counted by kind.
    req = {k: v for k, v in m.items() if k[0] == "grok2api_requests_total"}
    assert req[("grok2api_requests_total", (("kind", "invalid_api_key"), ("model", "-"), ("status", "401")))] == 3
    assert req[("grok2api_requests_total", (("kind", "rate_limit_exceeded"), ("model", "-"), ("status", "429")))] == 2
    assert sum(req.values()) == recorded == 5
    assert m[("grok2api_http_request_duration_seconds_count", (("route", "/v1/models"),))] == 13
    assert m[("grok2api_gateway_overhead_seconds_count", ())] >= 14
    assert ("grok2api_http_requests_in_flight", ()) in m
    assert "grok2api_accounts" in {f.name for f in text_string_to_metric_families(text)}
    assert m[("grok2api_reservations_in_flight", ())] == 0  # nothing is being generated now
