"""How calls leave for grok.com: the egress pool (egresses from `proxy.egress_urls`, the static proxy and
the proxy pool; each account bound to one, balanced and stored with the account; health, moves, drain),
the Cloudflare clearance of each egress from a FlareSolverr-compatible solver (clearance.py, solver.py),
and the seed's proxy-pool rotation (proxies.py).

May import: upstream.identity, upstream.errors, storage.base, config.
upstream.identity and upstream.errors: the transport's hook types; storage.base: documents and locks shared
by workers; config: settings. Never pool: account bindings are stored through the callback the gateway's
wiring hands in.
"""
