"""Observability: the request statistics and request log, batched to storage (recorder.py), and the
Prometheus exposition with its HTTP counters and /metrics route (metrics.py).

May import: storage.base, keys.
Nothing that serves requests or talks upstream.
"""
