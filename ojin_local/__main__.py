from ojin_local.cli import main

main()
