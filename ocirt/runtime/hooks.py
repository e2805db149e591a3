"""Running the config's hooks: each is path + args + env, gets the container's
state JSON on stdin, and must exit 0 within its timeout.

posix_spawn and a pidfd rather than subprocess: the container's init runs
startContainer hooks after the root switch, where only what was imported
before is usable, and subprocess would import much (threads included).
"""

import os
import select
import _signal as signal  # the C module: `signal` imports enum (~2 ms)
import time

from .. import jsonio
from .._version import OCI_VERSION

KINDS = ("prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop")
_OUTPUT_LIMIT = 4096


class HookError(Exception):
    pass


def state(container_id, spec, status, pid):
    """The state document a hook reads on stdin."""
    return {"ociVersion": OCI_VERSION, "id": container_id, "status": status, "pid": pid or 0,
            "bundle": spec.bundle, "annotations": spec.annotations}


def run_all(kind, hooks, state):
    """Run hooks[kind] in order; the first failure raises HookError."""
    data = jsonio.dumps(state).encode()
    for i, hook in enumerate(hooks.get(kind, [])):
        run_one(hook, data, f"hooks.{kind}[{i}]")


def _spawn(hook, stdin_fd, out_fd):
    args = hook.get("args") or [hook["path"]]
    # No env given: the runtime's own, as runc (Go's exec) does.
    env = dict(e.split("=", 1) for e in hook["env"] if "=" in e) if "env" in hook else os.environ
    actions = [(os.POSIX_SPAWN_DUP2, stdin_fd, 0), (os.POSIX_SPAWN_DUP2, out_fd, 1),
               (os.POSIX_SPAWN_DUP2, out_fd, 2)]
    return os.posix_spawn(hook["path"], args, env, file_actions=actions, setsigdef=(signal.SIGPIPE,))


def run_one(hook, state_bytes, where):
    in_r, in_w = os.pipe2(os.O_CLOEXEC)
    out_r, out_w = os.pipe2(os.O_CLOEXEC)
    try:
        try:
            pid = _spawn(hook, in_r, out_w)
        except OSError as e:
            raise HookError(f"{where}: cannot run {hook['path']}: {e.strerror}") from None
    finally:
        os.close(in_r)
        os.close(out_w)
    pidfd = os.pidfd_open(pid)
    try:
        _feed(in_w, state_bytes)
        output, timed_out = _collect(out_r, pidfd, hook.get("timeout"))
        if timed_out:
            os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
    finally:
        os.close(pidfd)
        os.close(out_r)
    detail = output.decode(errors="replace").strip().replace("\n", " | ")[-300:]
    if timed_out:
        raise HookError(f"{where}: {hook['path']} timed out after {hook['timeout']}s")
    if status != 0:
        code = os.waitstatus_to_exitcode(status)
        how = f"exit status {code}" if code >= 0 else f"signal {-code}"
        raise HookError(f"{where}: {hook['path']} failed ({how})" + (f": {detail}" if detail else ""))


def _feed(fd, data):
    """Write the state; a hook that does not read it is no error."""
    try:
        while data:
            data = data[os.write(fd, data):]
    except BrokenPipeError:
        pass
    finally:
        os.close(fd)


def _collect(out_fd, pidfd, timeout):
    """The hook's output until it exits (or the timeout passes). A child the
    hook left running may hold the pipe: once the hook is gone, only what is
    already there is read."""
    deadline = None if timeout is None else time.monotonic() + timeout
    chunks, size, exited = [], 0, False
    while True:
        wait = None if deadline is None else max(0.0, deadline - time.monotonic())
        if exited:
            wait = 0
        ready, _, _ = select.select([out_fd] + ([] if exited else [pidfd]), [], [], wait)
        if not ready:
            return b"".join(chunks), not exited
        if pidfd in ready:
            exited = True
        if out_fd in ready:
            data = os.read(out_fd, 65536)
            if not data:
                return b"".join(chunks), False
            if size < _OUTPUT_LIMIT:
                chunks.append(data)
                size += len(data)
        elif exited:
            return b"".join(chunks), False
