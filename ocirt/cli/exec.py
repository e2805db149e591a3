"""ocirt exec [options] ID COMMAND [ARGS...]   or   ocirt exec --process FILE ID

Runs a new process in a running container. Attached, it returns the process's
exit status (128 + signal when killed); --detach returns once it has exec'd.
Without --process, the process is the container's own process.* with the
changes the flags ask for, as runc does."""

import copy
import os

from ..errors import UsageError
from .options import Option, integer, parse_command

OPTIONS = [
    Option("--process", "-p", value=True, help="a runtime-spec Process JSON file (- for stdin)"),
    Option("--console-socket", value=True, help="unix socket to receive the pty master"),
    Option("--tty", "-t", help="allocate a pty"),
    Option("--detach", "-d", help="return once the process has started"),
    Option("--pid-file", value=True, help="write the process's host pid here"),
    Option("--cwd", value=True, help="working directory in the container"),
    Option("--env", "-e", multiple=True, help="KEY=VALUE to add to the environment"),
    Option("--user", "-u", value=True, help="UID[:GID]"),
    Option("--additional-gids", "-g", multiple=True, help="a supplementary group id"),
    Option("--cap", "-c", multiple=True, help="a capability to add"),
    Option("--no-new-privs", help="set no_new_privs"),
    Option("--apparmor", value=True, help="AppArmor profile"),
    Option("--process-label", value=True, help="SELinux label"),
    Option("--preserve-fds", value=True, default="0", help="pass N fds after stdio"),
    Option("--cgroup", value=True, help="accepted for runc compatibility"),
    Option("--ignore-paused", help="exec even if the container is paused"),
]
USAGE = "ocirt exec [options] ID COMMAND [ARGS...]"


def build_process(opts, args, base):
    """The Process to run, from --process or from the container's own."""
    from ..spec import parse, validate_process
    if opts["process"]:
        path = opts["process"]
        try:
            if path == "-":
                data = os.read(0, 1 << 24)
            else:
                with open(path, "rb") as f:
                    data = f.read()
        except OSError as e:
            raise UsageError(f"--process {path}: {e.strerror}") from None
        process = parse(data, path)
        validate_process(process, path)
        return process
    if not args:
        raise UsageError(f"usage: {USAGE}")
    process = copy.deepcopy(base)
    process["args"] = list(args)
    process["terminal"] = bool(opts["tty"])
    process.pop("consoleSize", None)
    if opts["cwd"]:
        process["cwd"] = opts["cwd"]
    process["env"] = process.get("env", []) + opts["env"]
    if opts["user"]:
        uid, _, gid = opts["user"].partition(":")
        process["user"] = dict(process.get("user", {}), uid=integer(uid, "--user"),
                               gid=integer(gid, "--user") if gid else process["user"].get("gid", 0))
    if opts["additional_gids"]:
        process["user"]["additionalGids"] = [integer(g, "--additional-gids") for g in opts["additional_gids"]]
    if opts["cap"]:
        caps = process.setdefault("capabilities", {})
        for key in ("bounding", "effective", "permitted"):
            have = caps.setdefault(key, [])
            have.extend(c for c in opts["cap"] if c not in have)
    if opts["no_new_privs"]:
        process["noNewPrivileges"] = True
    if opts["apparmor"]:
        process["apparmorProfile"] = opts["apparmor"]
    if opts["process_label"]:
        process["selinuxLabel"] = opts["process_label"]
    validate_process(process, "exec flags")
    return process


def main(ctx, argv):
    from ..container import Container
    opts, rest = parse_command(USAGE, OPTIONS, argv, (1, 1 << 16), stop_at_positional=True)
    container = Container.load(rest[0], ctx.root)
    process = build_process(opts, rest[1:], container.config.get("process", {}))
    relay = None
    if process.get("terminal") and not opts["console_socket"] and not opts["detach"]:
        from ..linux import unixsock
        relay, opts["console_socket"] = unixsock.socketpair()
    supervisor = None
    if not opts["detach"]:
        # Before the process exists, so that no signal meant for it is lost.
        from ..runtime.supervise import Supervisor
        supervisor = Supervisor()
    try:
        pid = container.exec(process, console_socket=opts["console_socket"], pid_file=opts["pid_file"],
                             preserve_fds=integer(opts["preserve_fds"], "--preserve-fds"),
                             ignore_paused=opts["ignore_paused"])
    except BaseException:
        if supervisor is not None:
            supervisor.close()
        raise
    if supervisor is None:
        return 0
    supervisor.pid = pid
    if relay is not None:
        from .run import _receive_master
        supervisor.master = _receive_master(relay)
    return supervisor.wait()
