"""Hooks run as real processes: state on stdin, args, env, exit status and
timeout, each failure named by the hook's place in the config."""

import json

import pytest

from ocirt.runtime.hooks import HookError, run_all

STATE = {"ociVersion": "1.3.0", "id": "c1", "status": "creating", "pid": 42, "bundle": "/b"}


def test_state_on_stdin_args_and_env(tmp_path):
    out = tmp_path / "out"
    hooks = {"createRuntime": [{"path": "/bin/sh", "args": ["sh", "-c", f'cat > {out}; echo "$0 $1 $X" >> {out}', "a0", "a1"],
                                "env": ["X=from-env"]}]}
    run_all("createRuntime", hooks, STATE)
    text = out.read_text()
    state_json, extra = text[:text.rindex("}") + 1], text[text.rindex("}") + 1:]
    assert json.loads(state_json) == STATE
    assert extra == "a0 a1 from-env\n"


def test_hooks_run_in_order_and_stop_at_the_first_failure(tmp_path):
    log = tmp_path / "log"
    hooks = {"poststart": [
        {"path": "/bin/sh", "args": ["sh", "-c", f"echo one >> {log}"]},
        {"path": "/bin/sh", "args": ["sh", "-c", "echo boom >&2; exit 3"]},
        {"path": "/bin/sh", "args": ["sh", "-c", f"echo three >> {log}"]}]}
    with pytest.raises(HookError, match=r"hooks.poststart\[1\]: /bin/sh failed \(exit status 3\): boom"):
        run_all("poststart", hooks, STATE)
    assert log.read_text() == "one\n"


def test_timeout_kills_the_hook():
    hooks = {"createContainer": [{"path": "/bin/sleep", "args": ["sleep", "30"], "timeout": 1}]}
    with pytest.raises(HookError, match=r"hooks.createContainer\[0\]: /bin/sleep timed out after 1s"):
        run_all("createContainer", hooks, STATE)


def test_missing_program():
    with pytest.raises(HookError, match=r"hooks.poststop\[0\]: cannot run /nonexistent: No such file"):
        run_all("poststop", {"poststop": [{"path": "/nonexistent"}]}, STATE)


def test_hook_that_ignores_stdin_and_leaves_a_child(tmp_path):
    hooks = {"poststop": [{"path": "/bin/sh", "args": ["sh", "-c", "sleep 5 & exit 0"]}]}
    run_all("poststop", hooks, STATE)  # returns at once although the child holds the pipe


def test_no_hooks_of_that_kind():
    run_all("prestart", {}, STATE)
