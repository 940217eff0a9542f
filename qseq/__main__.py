"""``python -m qseq`` runs the ``qseq`` command (and ``torchrun ... -m qseq train ...`` trains data-parallel)."""

from .cli import main

raise SystemExit(main())
