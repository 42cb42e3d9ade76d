"""API keys: one per partner app or field-kit device, stored hashed, each with scopes and the regions it may act in.

Every service checks keys against the same access store (``PARITRANA_ACCESS_DATABASE_URL``), so a revoked key
stops working everywhere at once.
"""

from shared.access.dependencies import require_scope
from shared.access.keys import (
    SCOPES,
    AccessStore,
    ApiKey,
    IssuedKey,
    Principal,
    region_covers,
)

__all__ = ["SCOPES", "AccessStore", "ApiKey", "IssuedKey", "Principal", "region_covers", "require_scope"]
