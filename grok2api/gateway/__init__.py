"""The running gateway: one request's life from model to settled quota (core.py), the neutral jobs API
surfaces hand it (jobs.py), asynchronous video jobs (video_jobs.py), the shutdown drain (drain.py), and the
wiring that builds the upstream client, pool, gateway and recorder with their lifetimes (wiring.py).

May import: pool, upstream, egress, media, stats, catalog, config, storage.base, errors, keys. Never api or admin.
"""
