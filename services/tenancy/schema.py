"""Every table of the tenancy service, for migrations and the bootstrap: one import per area's
models module, so an area added later cannot be forgotten by one of them."""

from __future__ import annotations

from services.tenancy import models
from services.tenancy.billing import models as billing_models
from services.tenancy.limits import models as limits_models
from services.tenancy.model_configs import models as model_configs_models
from services.tenancy.pricing import models as pricing_models
from services.tenancy.stripe import models as stripe_models
from services.tenancy.tenants import models as tenants_models

metadata = models.Base.metadata

__all__ = [
    "billing_models",
    "limits_models",
    "metadata",
    "model_configs_models",
    "models",
    "pricing_models",
    "stripe_models",
    "tenants_models",
]
