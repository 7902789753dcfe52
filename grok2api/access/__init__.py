"""Credentials as domain objects: API keys (minted, shown once, stored as sha256; api_keys.py) and the
admin password (scrypt hash; admin_password.py). Used by the edge, the admin and the CLI alike.

May import: storage.base only.
"""
