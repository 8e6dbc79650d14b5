"""``python -m lossreg``: the same command line as the ``lossreg`` script."""

import sys

from lossreg.cli import main

sys.exit(main())
