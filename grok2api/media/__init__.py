"""Media the gateway handles locally: the image/video cache served under /v1/files (cache.py) and the
SSRF-guarded fetch of user-supplied URLs and data: URLs (fetch.py).

May import: config, keys. Never upstream (downloads are handed in as callables).
"""
