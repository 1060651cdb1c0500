import sys

from tecwatch.cli import main

sys.exit(main())
