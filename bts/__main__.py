from bts.cli import main

main()
