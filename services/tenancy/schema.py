"""Every table of the tenancy service, for migrations and the bootstrap: one import per models
module, so a module added later cannot be forgotten by one of them."""

from __future__ import annotations

from services.tenancy import (
    models,
    models_billing,
    models_limits,
    models_model_configs,
    models_pricing,
    models_stripe,
)

metadata = models.Base.metadata

__all__ = [
    "metadata",
    "models",
    "models_billing",
    "models_limits",
    "models_model_configs",
    "models_pricing",
    "models_stripe",
]
