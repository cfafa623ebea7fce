"""Python source, run with `python -c`, that calls eqlwatch as its console script does.

Start-up tests run a fresh interpreter (imports, collections and caches are what they
measure), set up what they watch before `RUN_MAIN`, and report after it through a file.
"""

RUN_MAIN = """
sys.argv = ["eqlwatch", *sys.argv[1:]]
from eqlwatch.cli.app import main
code = 0
try:
    main()
except SystemExit as exc:
    code = exc.code if isinstance(exc.code, int) else 1
"""
