"""gui and run-or-demo: the designer window, its offscreen screenshot, and `make run`'s entry point."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

from .. import asset_path
from ..cli import UserError

SEED = asset_path("examples", "seed-keras.rnn.json")


def register(sub) -> None:
    p = sub.add_parser("gui", help="open the designer (optionally on a design); --screenshot renders it and exits")
    p.add_argument("design", nargs="?", help="project file (.rnn.json) to open")
    p.add_argument(
        "--screenshot",
        metavar="OUT.png",
        help="render the window with the design to a PNG and exit (works with QT_QPA_PLATFORM=offscreen)",
    )
    p.add_argument("--theme", choices=("system", "light", "dark"), help="colour theme (default: follow the system)")
    p.add_argument("--size", default="1440x900", help="window size for --screenshot, WIDTHxHEIGHT (default 1440x900)")
    p.add_argument("--select", metavar="BLOCK", help="select this block (the inspector shows it) for --screenshot")
    p.set_defaults(func=cmd_gui)

    p = sub.add_parser("run-or-demo", help="open the designer when a display is available, else run the headless demo")
    p.set_defaults(func=cmd_run_or_demo)


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
        if w < 200 or h < 150:
            raise ValueError
        return w, h
    except ValueError:
        raise UserError(f"--size must look like 1440x900 (at least 200x150), received {text!r}") from None


def cmd_gui(args) -> int:
    if args.design and not Path(args.design).exists():
        raise UserError(f"{args.design}: no such file")
    size = _size(args.size)
    if args.screenshot and not has_display():
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    elif not has_display():
        raise UserError(
            "no display to open the designer on (DISPLAY/WAYLAND_DISPLAY unset); use --screenshot "
            "with QT_QPA_PLATFORM=offscreen, or the command-line verbs (check, summary)"
        )
    from rnn_studio.gui.app import main

    return main(args.design, args.screenshot, args.theme, size, args.select)


def has_display() -> bool:
    if os.environ.get("QT_QPA_PLATFORM", "") not in ("", "xcb", "wayland"):
        return os.environ["QT_QPA_PLATFORM"] not in ("offscreen", "minimal")
    if sys.platform in ("win32", "darwin"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def cmd_run_or_demo(args) -> int:
    if has_display():
        from rnn_studio.gui.app import main

        return main()
    print("No display found (DISPLAY/WAYLAND_DISPLAY unset): running the headless demo instead of the designer.")
    exe = [sys.executable, "-m", "rnn_studio"]
    if importlib.util.find_spec("rnn_studio.commands.training") is not None and _has_verb("demo"):
        return subprocess.call(exe + ["demo"])
    print(f"(no `demo` verb in this build: checking and summarizing the seed example {SEED.name})\n")
    rc = subprocess.call(exe + ["check", str(SEED)])
    if rc:
        return rc
    print()
    return subprocess.call(exe + ["summary", str(SEED)])


def _has_verb(name: str) -> bool:
    from ..cli import build_parser

    parser = build_parser()
    return name in parser._subparsers._group_actions[0].choices
