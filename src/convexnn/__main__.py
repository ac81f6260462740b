"""``python -m convexnn``: the command line (see :mod:`convexnn.cli`)."""

import sys

from .cli import main

sys.exit(main())
