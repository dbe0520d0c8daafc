import sys

from plasticity.cli import main

sys.exit(main())
