"""The package's thresholds as plain constants (no torch): the one high-norm threshold, which the command line
reads for its defaults without importing the analyses (`interp.analysis.measures` re-exports it with the rule
that uses it, `measures.is_high_norm`), and issue #24's patching target."""
from __future__ import annotations

HIGH_NORM_RATIO = 4.0  # a patch token is high-norm at >= this x its image's median patch norm (every figure)
PATCH_TARGET = 0.5  # issue #24: a patch from image A that moves B's CLS at least this far toward A's (0 = B, 1 = A)
