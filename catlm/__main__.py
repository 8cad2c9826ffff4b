"""``python -m catlm`` (and ``torchrun -m catlm``) run the console script."""
import sys

from catlm.cli import main

sys.exit(main())
