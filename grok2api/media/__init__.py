"""Media the gateway handles locally: the image/video cache served under /v1/files, cleaned periodically
(cache.py), and the SSRF-guarded fetch of user-supplied URLs and data: URLs (fetch.py).

May import: config, keys, periodic.
Never upstream: downloads are handed in as callables.
"""
