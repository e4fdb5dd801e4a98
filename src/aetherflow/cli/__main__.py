"""``python -m aetherflow.cli``: the same command line as the ``aetherflow`` script."""

from aetherflow.cli.main import main

if __name__ == "__main__":
    main()
