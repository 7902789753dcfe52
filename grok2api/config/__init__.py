"""Configuration: typed settings (schema.py) loaded from the packaged defaults.toml, DATA_DIR/config.toml,
admin-saved overrides and the environment (settings.py); live settings, the change watcher and saving
admin overrides (live.py); resource and data paths (paths.py); the README's generated reference (doc.py).

May import: storage.base, errors.
Nothing from the gateway, api, admin or upstream.
"""
