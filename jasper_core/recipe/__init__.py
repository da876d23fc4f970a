"""Recipes: TOML documents that assemble registered components into a trainer."""

from jasper_core.recipe.component import Component
from jasper_core.recipe.load import (
    builtin_recipes,
    load_recipe,
    recipe_from_data,
    recipe_from_text,
    recipe_to_dict,
    recipe_to_toml,
)
from jasper_core.recipe.schema import VARIANTS, EmaSection, EvalSection, OptimSection, Recipe, RoutingSection, TrainSection
from jasper_core.recipe.structure import structure_config, unstructure_config

__all__ = [
    "Component", "EmaSection", "EvalSection", "OptimSection", "Recipe", "RoutingSection", "TrainSection", "VARIANTS",
    "builtin_recipes", "load_recipe", "recipe_from_data", "recipe_from_text", "recipe_to_dict",
    "recipe_to_toml", "structure_config", "unstructure_config",
]
