"""`python -m bench.nearest`: see the package docstring."""

import sys

from bench.nearest.run import main

sys.exit(main())
