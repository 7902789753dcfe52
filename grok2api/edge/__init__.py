"""The request edge: request id and error envelopes (envelope.py), hygiene (CORS, body size, security
headers), the client's address (client_ip.py), per-IP and per-key rate limits (rate_limit.py), API-key authentication
and the model allow-list (api_auth.py), /health and /ready (health.py), all applied on the hot path by one
middleware (chain.py). Exports that middleware, route tables, cleanup contexts and provide(app); make_app wires them.

May import: access, config, stats, storage.base, errors, keys, periodic, jsonfast.
Never api, admin, gateway or upstream.
"""
