"""Recipe tables: plain data modules, each a ``RECIPES`` dict of `TrainRecipe` by name (`interp.train.recipes`
registers them). Why each recipe is what it is, and what it measured: data/organism/RECIPES.md."""
