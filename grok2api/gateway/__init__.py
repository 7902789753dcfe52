"""The running gateway: one request's life from model to settled quota (core.py), the retry policy
(retry.py), the neutral jobs API surfaces hand it (jobs.py), the event pump its readers wait on (pump.py),
asynchronous video jobs (video_jobs.py), the shutdown drain (drain.py), and the wiring that builds the
upstream client, pool, gateway and recorder with their lifetimes (wiring.py).

May import: pool, upstream, egress, media, stats, catalog, config, storage.base, errors, keys, periodic.
Never api or admin.
"""
