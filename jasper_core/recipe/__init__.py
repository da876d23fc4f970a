"""Recipes: TOML documents that assemble registered components into a trainer."""

from jasper_core.recipe.component import Component, component, components
from jasper_core.recipe.convert import unstructure_config
from jasper_core.recipe.load import (
    builtin_recipes,
    load_recipe,
    recipe_from_data,
    recipe_from_text,
    recipe_to_dict,
    recipe_to_toml,
    same_run,
)
from jasper_core.recipe.schema import EvalSection, OptimSection, Recipe, TargetSpaceSection, TrainSection
from jasper_core.recipe.structure import structure_config

__all__ = [
    "Component", "EvalSection", "OptimSection", "Recipe", "TargetSpaceSection", "TrainSection", "component", "components",
    "builtin_recipes", "load_recipe", "recipe_from_data", "recipe_from_text", "recipe_to_dict",
    "recipe_to_toml", "same_run", "structure_config", "unstructure_config",
]
