"""``python -m skcatdog``: the same as the ``skcatdog`` command."""

import sys

from .cli import main

sys.exit(main())
