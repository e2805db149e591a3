"""The runc-style flag parser and signal names."""

import signal

import pytest

from ocirt.cli.kill import parse_signal
from ocirt.cli.options import Option, parse
from ocirt.errors import UsageError

OPTS = [Option("--bundle", "-b", value=True, default="."), Option("--detach", "-d"),
        Option("--pid-file", value=True)]


@pytest.mark.parametrize("argv, bundle, detach, rest", [
    (["--bundle", "B", "id"], "B", False, ["id"]),
    (["--bundle=B", "id"], "B", False, ["id"]),
    (["-b", "B", "-d", "id"], "B", True, ["id"]),
    (["-bundle", "B", "id"], "B", False, ["id"]),
    (["id", "--detach"], ".", True, ["id"]),
    (["--detach=false", "id"], ".", False, ["id"]),
    (["--", "--detach"], ".", False, ["--detach"]),
])
def test_parse(argv, bundle, detach, rest):
    values, positional = parse(OPTS, argv)
    assert (values["bundle"], values["detach"], positional) == (bundle, detach, rest)


def test_repeated_option_collects_values():
    opts = [Option("--env", "-e", multiple=True), Option("--tty", "-t")]
    values, positional = parse(opts, ["-e", "A=1", "--env=B=2", "-t", "id"])
    assert values == {"env": ["A=1", "B=2"], "tty": True} and positional == ["id"]
    assert parse(opts, [])[0]["env"] == []


def test_stop_at_positional_keeps_the_rest():
    values, positional = parse(OPTS, ["-d", "create", "--bundle", "x"], stop_at_positional=True)
    assert values["detach"] and positional == ["create", "--bundle", "x"]


@pytest.mark.parametrize("argv, message", [
    (["--nope"], "unknown option --nope"),
    (["--bundle"], "--bundle needs a value"),
    (["--detach=maybe"], "expected true or false"),
])
def test_errors(argv, message):
    with pytest.raises(UsageError, match=message):
        parse(OPTS, argv)


@pytest.mark.parametrize("text, number", [("9", 9), ("KILL", 9), ("SIGKILL", 9), ("term", 15),
                                          ("SIGRTMIN", int(signal.SIGRTMIN))])
def test_signals(text, number):
    assert parse_signal(text) == number


@pytest.mark.parametrize("text", ["0", "999", "SIGNOPE", "", "-1"])
def test_bad_signals(text):
    with pytest.raises(UsageError):
        parse_signal(text)
