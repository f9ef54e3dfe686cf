"""``python -m sklearn_overseg.cli``: the ``overseg`` command."""

import sys

from ._main import main

sys.exit(main())
