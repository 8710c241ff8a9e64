"""The frozen binary's entry point: the same Click command as the installed `ojin-local`."""

import multiprocessing

from ojin_local.entry import main

if __name__ == "__main__":
    multiprocessing.freeze_support()
    main()
