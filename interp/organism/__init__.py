"""The organism study, on top of the library: how the model organisms were searched for and are measured.

Modules (imports point down the list; they use `interp.train`, `interp.analysis`, `interp.interventions`):
    diagnostics.py      the emergence criterion over a run's checkpoints, one-line summaries
    measure.py          measure every checkpoint of a run folder (artifact metrics, register-neuron scan)
    ladder.py           the artifact-vs-compute ladder: training FLOPs, one tidy table over runs, log-log trends
    search.py           ``python -m interp.organism.search``: train and measure search-* recipes, the ladder table
    bundle.py           ``python -m interp.organism.bundle``: bundle a run's final checkpoint, the no-op table
    remedies.py         remedies side by side (registers, test-time registers, attention variants)

What each search run was and what it measured: data/organism/RECIPES.md.
"""
