from eqlwatch.cli.app import main

main()
