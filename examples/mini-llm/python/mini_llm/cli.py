"""Command line: `python -m mini_llm {version,build-info,check-device,tokenize,score}`."""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from typing import Optional, Sequence

import mini_llm
from mini_llm import _reference

SAMPLE_TEXT = "MLC-LLM compiles language models for every device, from phones to GPUs."


def _version(_args: argparse.Namespace) -> int:
    dist = mini_llm.distribution_name() or "mini-llm (not installed)"
    print(f"{dist} {mini_llm.__version__}")
    print(f"libmini_llm {mini_llm.native_version()}, tiny_runtime {mini_llm.runtime_version()}")
    return 0


def _build_info(_args: argparse.Namespace) -> int:
    print(json.dumps(mini_llm.build_info(), indent=2, sort_keys=True))
    return 0


def _check_cpu() -> int:
    ids = mini_llm.tokenize(SAMPLE_TEXT)
    value = mini_llm.score(SAMPLE_TEXT)
    via_module = mini_llm.invoke("mini_llm.score", SAMPLE_TEXT)
    expected = _reference.score(SAMPLE_TEXT)
    if ids != _reference.tokenize(SAMPLE_TEXT) or abs(value - expected) > 1e-12:
        print(f"check_device: cpu wrong result (score {value!r}, expected {expected!r})")
        return 3
    if via_module != value:
        print(f"check_device: cpu module result {via_module!r} differs from {value!r}")
        return 3
    print(
        f"check_device: cpu ok tokens={len(ids)} score={value:.6f} "
        f"(libmini_llm {mini_llm.native_version()})"
    )
    return 0


def _check_device(args: argparse.Namespace) -> int:
    if args.device == "cpu":
        return _check_cpu()
    # pylint: disable-next=import-outside-toplevel
    from mini_llm import cuda

    result = cuda.check()
    if result.status == cuda.NO_DEVICE and args.allow_missing:
        seen = _gpus_nvidia_smi_sees()
        if seen:
            # A builder may have no device; a host with a GPU must never pass with "no device".
            print(f"{result.message}, but nvidia-smi sees {seen}; --allow-missing does not apply")
            return result.status
        print(f"{result.message}; accepted (--allow-missing)")
        return 0
    print(result.message)
    return result.status


def _gpus_nvidia_smi_sees() -> str:
    """'1 GPU(s)' when nvidia-smi lists GPUs, '' without nvidia-smi or GPUs."""
    smi = shutil.which("nvidia-smi")
    if not smi:
        return ""
    try:
        listed = subprocess.run(
            (smi, "-L"), capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    count = sum(1 for line in listed.stdout.splitlines() if line.startswith("GPU "))
    return f"{count} GPU(s)" if count else ""


def _tokenize(args: argparse.Namespace) -> int:
    print(" ".join(str(i) for i in mini_llm.tokenize(args.text)))
    return 0


def _score(args: argparse.Namespace) -> int:
    print(f"{mini_llm.score(args.text):.6f}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (public so tests and docs can inspect it)."""
    parser = argparse.ArgumentParser(
        prog="python -m mini_llm", description="mini-llm: a small MLC-LLM-shaped native package."
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    version = commands.add_parser("version", help="print the package and native library versions")
    version.set_defaults(func=_version)
    info = commands.add_parser("build-info", help="print the backends compiled in, as JSON")
    info.set_defaults(func=_build_info)
    check = commands.add_parser(
        "check-device",
        help="run a small computation on a device",
        description="Exit status: 0 ok, 1 no CUDA device, 2 backend not built, 3 broken.",
    )
    check.add_argument("device", choices=["cpu", "cuda"])
    check.add_argument(
        "--allow-missing",
        action="store_true",
        help="exit 0 when CUDA is built in but no device or driver is present",
    )
    check.set_defaults(func=_check_device)
    for name, func in (("tokenize", _tokenize), ("score", _score)):
        command = commands.add_parser(name, help=f"print the {name} result for TEXT")
        command.add_argument("text", metavar="TEXT")
        command.set_defaults(func=func)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the command line; returns the exit status."""
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
