import sys

from sharing.cli import main

sys.exit(main())
