import sys

from closing.cli import main

sys.exit(main())
