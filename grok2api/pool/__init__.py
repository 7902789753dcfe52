"""The account pool: the in-memory view and its index, selection strategies, failure and refresh
policies as pure functions (policy.py), reservations (pool.py), the quota refresher, and the account
operations the admin and the CLI share (ops.py: import, export, enable, delete, refresh, NSFW, ToS).

May import: catalog, config, storage.base, upstream.errors, periodic.
Upstream calls (quota reads, NSFW, ToS) are handed in as callables.
"""

from .model import Account, QuotaReading, mask_token
from .options import DEFAULT_QUOTAS, CooldownRules, PoolConfig
from .pool import Lease, NoAccountAvailable, Pool
from .refresher import Refresher

__all__ = [
    "DEFAULT_QUOTAS", "Account", "CooldownRules", "Lease", "NoAccountAvailable", "Pool", "PoolConfig",
    "QuotaReading", "Refresher", "mask_token",
]
