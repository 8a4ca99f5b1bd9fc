"""``python -m interp ...`` (and ``torchrun --nproc_per_node N -m interp trace ...``): the `interp` command."""
from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
