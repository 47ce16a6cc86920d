"""The CLI's one error path: an expected failure is one line, ``textclf <command>: <what>. Fix: <how>``, with exit
status 2 when the input is wrong (an argument, a file, a setting) and 1 when something elsewhere failed (AWS, the
network, a server); a traceback only with ``--debug``."""

from __future__ import annotations

import argparse
import difflib
import json
import math
import sys

from stacks.config import STAGE_NAMES, ConfigError, selected_stages

USER_ERROR, FAILURE, INTERRUPTED = 2, 1, 130


class UserError(ValueError):
    """Input the user can fix: the message names it and says how."""


class Failure(RuntimeError):
    """Something outside the input failed; the message names it and says what to do."""


class Parser(argparse.ArgumentParser):
    """argparse, whose errors are one line in the CLI's form, and which tells each command its name."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # The innermost parser's default wins, so a handler's errors name its whole command ("data validate").
        self.set_defaults(command_name=self.prog.removeprefix("textclf").strip() or "textclf")

    def add_subparsers(self, **kwargs):  # type: ignore[override]
        kwargs.setdefault("action", _Commands)
        return super().add_subparsers(**kwargs)

    def error(self, message: str) -> None:  # type: ignore[override]
        print(f"{self.prog}: {message}. Fix: see `{self.prog} --help`.", file=sys.stderr)
        raise SystemExit(USER_ERROR)


class _Commands(argparse._SubParsersAction):
    """Subcommands whose --help opens with their one-line help, unless they were given a description."""

    def add_parser(self, name: str, **kwargs):  # type: ignore[override]
        about = kwargs.get("help")
        if about and "description" not in kwargs:
            kwargs["description"] = f"{about[0].upper()}{about[1:]}."
        return super().add_parser(name, **kwargs)


def explain(error: BaseException) -> tuple[str, int] | None:
    """The one line and exit status for an expected failure; None for a fault of the program itself."""
    if isinstance(error, KeyboardInterrupt):
        return "interrupted", INTERRUPTED
    if isinstance(error, (ConfigError, UserError)):
        return str(error), USER_ERROR
    if isinstance(error, Failure):
        return str(error), FAILURE
    if isinstance(error, json.JSONDecodeError):
        return f"{invalid_json(error)}. Fix: correct the file.", USER_ERROR
    aws = _aws(error)
    if aws is not None:
        return aws, FAILURE
    if isinstance(error, (FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError)):
        where = error.filename or "a file"
        return f"{where}: {error.strerror}. Fix: check the path, and that you may read or write it.", USER_ERROR
    if isinstance(error, ConnectionError) or type(error).__name__ == "URLError":
        reason = getattr(error, "reason", error)
        return f"cannot connect ({reason}). Fix: check the URL, and that something listens there.", FAILURE
    return None


def invalid_json(error: json.JSONDecodeError) -> str:
    return f"not valid JSON ({error.msg} at line {error.lineno} column {error.colno})"


def _aws(error: BaseException) -> str | None:
    """botocore's failures, named with their fix (botocore is imported only by the commands that call AWS)."""
    exceptions = sys.modules.get("botocore.exceptions")
    if exceptions is None:
        return None
    if isinstance(error, exceptions.NoCredentialsError | exceptions.PartialCredentialsError):
        return (
            f"{error}. Fix: sign in for the stage's account (aws configure, aws sso login, or AWS_PROFILE), "
            "then run it again."
        )
    if isinstance(error, exceptions.NoRegionError):
        return f"{error}. Fix: set the stage's region in cdk.json, or AWS_DEFAULT_REGION."
    if isinstance(error, exceptions.EndpointConnectionError | exceptions.ConnectTimeoutError):
        return f"{error}. Fix: check the network, or a proxy, to AWS."
    if isinstance(error, exceptions.ClientError | exceptions.BotoCoreError):
        return f"AWS said: {error}. Fix: check the stage is deployed and that your role may do this."
    return None


# ---- argument types: checked as arguments are parsed, before anything runs or calls AWS ---------------------------


def one_stage(value: str) -> str:
    if value not in STAGE_NAMES:
        raise argparse.ArgumentTypeError(f"--stage takes one stage, {', '.join(STAGE_NAMES)} (got {value!r})")
    return value


def did_you_mean(name: str, choices: list[str]) -> str:
    """`` (did you mean 'prod'?)`` for the closest of ``choices``, or nothing when none is close."""
    close = difflib.get_close_matches(name, choices, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def stage_selection(value: str) -> str:
    """What `textclf synth --stage` takes: all, delivery, or stages by name (a comma list)."""
    if value in ("all", "delivery"):
        return value
    for name in selected_stages(value):
        if name not in STAGE_NAMES:
            hint = did_you_mean(name, [*STAGE_NAMES, "all", "delivery"])
            raise argparse.ArgumentTypeError(
                f"unknown stage {name!r}{hint}: give {', '.join(STAGE_NAMES)}, a comma list of them, all or delivery"
            )
    return value


def port(value: str) -> int:
    number = _integer(value, "port")
    if not 1 <= number <= 32766:
        raise argparse.ArgumentTypeError(f"port {number} is not within 1..32766, what multi-model-server accepts")
    return number


def positive_int(value: str) -> int:
    number = _integer(value, "number")
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not a positive whole number")
    return number


def non_negative(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number") from None
    if not math.isfinite(number) or number < 0:
        raise argparse.ArgumentTypeError(f"{value!r} is not a finite, non-negative number")
    return number


def _integer(value: str, what: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole {what}") from None
