"""The ``nyang`` command. Subcommands arrive with the training issue; for now,
``nyang --version`` and ``nyang info`` (versions and devices)."""
import argparse
import sys


def _info(args):
    import array_api_compat
    import numpy

    import nyang

    print(f"nyang {nyang.__version__}")
    print(f"python {sys.version.split()[0]}, numpy {numpy.__version__}, array-api-compat {array_api_compat.__version__}")
    print(f"default device: {nyang.get_device()}")
    print(f"cuda available: {nyang.cuda.is_available()} ({nyang.cuda.device_count()} GPU(s))")
    return 0


def build_parser():
    from nyang import __version__

    parser = argparse.ArgumentParser(prog="nyang", description="nyang: deep learning for classification, on NumPy or CuPy.")
    parser.add_argument("--version", action="version", version=f"nyang {__version__}")
    sub = parser.add_subparsers(dest="command")
    info = sub.add_parser("info", help="print versions and the devices nyang can use")
    info.set_defaults(run=_info)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return 0
    return args.run(args)
