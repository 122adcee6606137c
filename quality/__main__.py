from pipeline.demo import exit_quietly
from quality.cli import main

exit_quietly(main())
