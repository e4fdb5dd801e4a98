"""``python -m aetherflow.emulator [--host H] [--port P] [--profile FILE] [--seed N]``."""

from __future__ import annotations

import argparse
import sys

from aetherflow.emulator.process import describe, serve_forever
from aetherflow.emulator.profile import EmulatorProfile, load_profile
from aetherflow.errors import AetherFlowError


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, serve until interrupted; return the exit code."""
    parser = argparse.ArgumentParser(prog="python -m aetherflow.emulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--profile", default=None)
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args(argv)
    try:
        profile = load_profile(args.profile) if args.profile else EmulatorProfile()
        if args.seed is not None:
            profile = profile.model_copy(update={"seed": args.seed})
        serve_forever(
            profile, args.host, args.port, lambda emu: print("\n".join(describe(emu)), flush=True)
        )
    except AetherFlowError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
