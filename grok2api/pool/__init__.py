"""The account pool: selection, failure policy, reservations, refresher and account operations."""

from .model import Account, QuotaReading, mask_token
from .options import DEFAULT_QUOTAS, CooldownRules, PoolConfig
from .pool import Lease, NoAccountAvailable, Pool
from .refresher import Refresher

__all__ = [
    "DEFAULT_QUOTAS", "Account", "CooldownRules", "Lease", "NoAccountAvailable", "Pool", "PoolConfig",
    "QuotaReading", "Refresher", "mask_token",
]
