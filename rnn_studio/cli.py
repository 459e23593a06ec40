"""`rnn-studio` command line. Every verb is a thin layer over functions the GUI calls too.

Exit codes (a contract, documented in README):
    0  success
    1  unexpected internal error (a bug: one line, `--debug` shows the traceback)
    2  bad input: invalid design, malformed file, bad data, bad arguments
    3  export verification failed (ONNX differs from PyTorch beyond tolerance)
  130  interrupted (Ctrl-C) where a command cannot finish cleanly

Each group of verbs lives in its own module under rnn_studio/commands/ and exposes
`register(subparsers)`; each verb sets `func(args) -> int` as its parser default. Modules are listed
in COMMAND_MODULES with the verbs each registers; a module that is not there yet is skipped. A
command line naming a verb imports only that verb's module (`rnn-studio data FILE` never imports the
training, export or GUI code); `--help` and the rest build the full parser.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.util
import sys

from rnn_studio import __version__
from rnn_studio.engine.limits import printable, redact

COMMAND_MODULES = {
    "rnn_studio.commands.design": ("check", "summary", "schema", "blocks"),
    "rnn_studio.commands.training": ("train", "evaluate", "predict"),
    "rnn_studio.commands.forecast": ("forecast",),  # dated forecasts past the data
    "rnn_studio.commands.backtest": ("backtest",),  # rolling-origin folds (engine/forecasting/backtest.py)
    "rnn_studio.commands.data": ("data",),  # column summary and data plan
    "rnn_studio.commands.export": ("export",),
    "rnn_studio.commands.profile": ("profile",),  # measured latency per block
    "rnn_studio.commands.importing": ("import",),  # Keras .keras, ONNX
    "rnn_studio.commands.tune": ("tune",),
    "rnn_studio.commands.demo": ("demo",),  # the headless tour of `make run`
    "rnn_studio.commands.gui": ("gui", "run-or-demo"),  # also no verb / a bare design path
    "rnn_studio.commands.tracking": ("log", "desktop-entry"),  # TensorBoard / MLflow
}
VERB_MODULE = {verb: module for module, verbs in COMMAND_MODULES.items() for verb in verbs}

EXIT_OK, EXIT_INTERNAL, EXIT_BAD_INPUT, EXIT_VERIFY = 0, 1, 2, 3


class UserError(Exception):
    """A problem with the user's input: printed as one line, exit code `code` (default 2)."""

    def __init__(self, message: str, code: int = EXIT_BAD_INPUT):
        super().__init__(message)
        self.code = code


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports a bad argument in ONE line on stderr (exit 2), not usage + error.

    Subparsers inherit the class, so every verb's flags get the same treatment."""

    def error(self, message: str):
        self.exit(EXIT_BAD_INPUT, f"error: {printable(excerpt_line(message))} (see `{self.prog} --help`)\n")


def excerpt_line(message: str, chars: int = 300) -> str:
    """The first line of a message, cut to `chars` characters: an error line stays readable whatever the input."""
    line = str(message).splitlines()[0] if str(message) else ""
    return line if len(line) <= chars else line[:chars] + f"... ({len(line):,} characters)"


def safe_streams() -> None:
    """Printing never raises: characters the terminal's encoding lacks are written as escapes. Nothing
    printed shows a credential: stdout and stderr blank the password of `scheme://user:password@` and
    token / secret / password query values (engine.limits.redact), whoever prints (MLflow's own logs too)."""
    for stream in (sys.stdout, sys.stderr):
        # replaced streams (tests, GUI) keep their own rules
        with contextlib.suppress(AttributeError, ValueError):
            stream.reconfigure(errors="backslashreplace")
    if not isinstance(sys.stdout, RedactingStream):
        sys.stdout = RedactingStream(sys.stdout)
    if not isinstance(sys.stderr, RedactingStream):
        sys.stderr = RedactingStream(sys.stderr)


class RedactingStream:
    """A text stream that passes every write through `redact` (a URI is written in one piece by print)."""

    def __init__(self, stream):
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(redact(text))
        return len(text)

    def writelines(self, lines) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str):
        return getattr(self._stream, name)


def build_parser(modules=None) -> argparse.ArgumentParser:
    """The parser with the verbs of `modules` (default: every module in COMMAND_MODULES)."""
    parser = OneLineParser(
        prog="rnn-studio",
        description="Design recurrent neural networks, check shapes, train, export verified ONNX.",
        epilog="With no command, opens the designer (or `rnn-studio DESIGN` to open a file).",
    )
    parser.add_argument("--version", action="version", version=f"rnn-studio {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES if modules is None else modules:
        if importlib.util.find_spec(name) is not None:
            importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    safe_streams()
    positional = [a for a in argv if not a.startswith("-")]
    module = VERB_MODULE.get(positional[0]) if positional else None
    if module is not None and importlib.util.find_spec(module) is not None:
        parser = build_parser([module])  # one verb: only its module is imported
        known = set(VERB_MODULE)
    else:
        parser = build_parser()
        known = set(parser._subparsers._group_actions[0].choices) if parser._subparsers else set()
    # `rnn-studio` alone opens the GUI; `rnn-studio DESIGN` opens it on a file.
    if "gui" in known:
        flags = [a for a in argv if a.startswith("-")]
        positional = [a for a in argv if not a.startswith("-")]
        if (
            not positional
            and not set(flags) & {"-h", "--help", "--version"}
            or positional
            and positional[0] not in known
            and positional[0].endswith(".json")
        ):
            argv = ["gui"] + argv
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_OK
    try:
        return int(args.func(args) or 0)
    except UserError as e:
        print(f"error: {printable(excerpt_line(redact(str(e)), 1000))}", file=sys.stderr)
        return e.code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # a bug: never a bare traceback for the user
        if args.debug:
            raise
        print(
            f"internal error: {type(e).__name__}: {printable(excerpt_line(redact(str(e))))} (run with --debug for the "
            f"traceback, and please report it)",
            file=sys.stderr,
        )
        return EXIT_INTERNAL


def load_design(path: str):
    """Load a project file for a CLI verb; unreadable files become a one-line UserError (exit 2)."""
    from rnn_studio.engine import ProjectFormatError, load_project

    try:
        return load_project(path)
    except ProjectFormatError as e:
        raise UserError(str(e)) from None


def console_main() -> int:
    """The `rnn-studio` command (and `python -m rnn_studio`): main() in a process of its own. After an
    interrupted command (exit 130) a further Ctrl-C while the interpreter shuts down is ignored: Python
    puts SIGINT back to the system default at exit, which would kill the process instead of exiting 130
    after the run folder was already saved."""
    code = main()
    if code == 130:
        import signal

        signal.signal(signal.SIGINT, signal.SIG_IGN)
    return code
