from groundfloor.process import exit_quietly
from quality.cli import main

exit_quietly(main())
