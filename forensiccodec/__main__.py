"""``python -m forensiccodec <command> ...`` is ``fcc <command> ...``; what torchrun runs:
``torchrun --nproc-per-node 2 -m forensiccodec train-codec ...``."""

from forensiccodec.cli import main

if __name__ == "__main__":
    main()
