import sys

from loadgen.runner.cli import main

sys.exit(main())
