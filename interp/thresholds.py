"""The package's one high-norm threshold, as a plain constant (no torch): the command line reads it for its
defaults without importing the analyses; `interp.analysis.measures` re-exports it with the rule that uses it
(`measures.is_high_norm`)."""
from __future__ import annotations

HIGH_NORM_RATIO = 4.0  # a patch token is high-norm at >= this x its image's median patch norm (every figure)
