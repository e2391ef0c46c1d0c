"""Bridge to the vendors' own simulators, each in its own venv (see ``env.py``)."""

from .env import (
    DRIVERS_DIR,
    VendorError,
    VendorRecipe,
    ensure_env,
    env_versions,
    find_env,
    get_recipe,
    recipes,
    register_recipe,
    run_driver,
    vendor_home,
)

__all__ = [
    "DRIVERS_DIR", "VendorError", "VendorRecipe", "ensure_env", "env_versions", "find_env", "get_recipe",
    "recipes", "register_recipe", "run_driver", "vendor_home",
]
