"""`kybernetes version` and `--version`: the Kubernetes version implemented and Kybernetes' own (as k3s)."""

from __future__ import annotations

import argparse
import platform
from typing import Any

import orjson

from kybernetes import __version__
from kybernetes.version import GIT_VERSION, version_info


def version_text() -> str:
    """One line: the version components report, and the Python running them."""
    return f"kybernetes version {GIT_VERSION} (python {platform.python_version()})"


def cmd_version(args: argparse.Namespace) -> int:
    if args.output == "json":
        print(orjson.dumps({"kybernetes": __version__, **version_info()}, option=orjson.OPT_INDENT_2).decode())
    else:
        print(version_text())
    return 0


def add_parser(sub: Any) -> None:
    p = sub.add_parser("version", help="print the version",
                       description="Print the Kubernetes version implemented and Kybernetes' own.")
    p.add_argument("-o", "--output", default="", choices=["", "json"], help="json: also the build details")
    p.set_defaults(func=cmd_version)
