"""How calls leave for grok.com: a static proxy, or a proxy pool refreshed and rotated on Cloudflare.

May import: nothing of grok2api's.
upstream's transport takes it through its ProxyPicker protocol.
"""
