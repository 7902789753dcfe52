"""Credentials as domain operations: API keys (minted once, stored as sha256, listed, changed and
deleted with the keys counter bumped; api_keys.py) and the admin password (scrypt; admin_password.py).
The edge, the admin and the CLI all go through them.

May import: storage.base.
"""
