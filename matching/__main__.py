import sys

from matching.cli import main

sys.exit(main())
