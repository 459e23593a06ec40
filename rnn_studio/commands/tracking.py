"""log, desktop-entry: send a run folder to TensorBoard / MLflow; install the Linux desktop launcher."""

from __future__ import annotations

from ..cli import UserError


def register(sub) -> None:
    p = sub.add_parser(
        "log",
        help="send an existing run folder to TensorBoard or MLflow (docs/tracking.md)",
        description="Replay a run folder's metrics.jsonl into TensorBoard event files "
        "(<run>/tensorboard/, rewritten) or a new MLflow run (MLFLOW_TRACKING_URI, "
        "default runs/mlflow.db) with the same loggers as `train --log`.",
    )
    p.add_argument("run", help="run folder (runs/<time>-<name>)")
    p.add_argument("--to", required=True, choices=("tensorboard", "mlflow"), help="where to send it")
    p.set_defaults(func=cmd_log)

    p = sub.add_parser(
        "desktop-entry",
        help="install (or --uninstall) the Linux desktop launcher, icon and *.rnn.json file type for the current user",
    )
    p.add_argument("--uninstall", action="store_true", help="remove what desktop-entry installed")
    p.set_defaults(func=cmd_desktop_entry)


def cmd_log(args) -> int:
    from rnn_studio.engine.training.runs import RunError
    from rnn_studio.engine.training.tracking import TrackingUnavailable, read_tracking, replay

    try:
        count = replay(args.run, args.to)
    except (TrackingUnavailable, RunError) as e:
        raise UserError(str(e)) from None
    if args.to == "tensorboard":
        print(f"wrote {count} record(s) to {args.run}/tensorboard; view with: tensorboard --logdir {args.run}")
    else:
        info = read_tracking(args.run).get("mlflow") or {}
        print(f"logged {count} record(s) to MLflow run {info.get('run_id')} at {info.get('tracking_uri')}")
    return 0


def cmd_desktop_entry(args) -> int:
    from ..desktop import DesktopError, install, uninstall

    try:
        if args.uninstall:
            removed, ran = uninstall()
            print("\n".join(f"removed {p}" for p in removed) or "nothing to remove: no desktop entry installed")
        else:
            paths, ran = install()
            print("\n".join(f"installed {p}" for p in paths.values()))
    except (DesktopError, OSError) as e:
        raise UserError(str(e)) from None
    if ran:
        print(f"refreshed: {', '.join(ran)}")
    return 0
