from ojin_local.entry import main

main()
