"""`python -m cds_cyto` runs the command line."""

import sys

from cds_cyto.cli import main

sys.exit(main())
