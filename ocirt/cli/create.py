"""ocirt create [--bundle DIR] [--pid-file F] [--console-socket S] ID"""

from .options import Option, integer, parse_command

OPTIONS = [
    Option("--bundle", "-b", value=True, default=".", help="bundle directory (default: .)"),
    Option("--pid-file", value=True, help="write the init's host pid here"),
    Option("--console-socket", value=True, help="unix socket to receive the pty master"),
    Option("--no-pivot", help="use MS_MOVE + chroot instead of pivot_root"),
    Option("--no-new-keyring", help="keep the session keyring of the caller"),
    Option("--preserve-fds", value=True, default="0", help="pass N fds after stdio"),
]
USAGE = "ocirt create [options] ID"


def create_from(opts, container_id, ctx):
    from ..container import Container
    return Container.create(
        container_id, opts["bundle"], ctx.root,
        console_socket=opts["console_socket"], pid_file=opts["pid_file"],
        no_pivot=opts["no_pivot"], no_new_keyring=opts["no_new_keyring"],
        systemd_cgroup=ctx.systemd_cgroup,
        preserve_fds=integer(opts["preserve_fds"], "--preserve-fds"))


def main(ctx, argv):
    opts, (container_id,) = parse_command(USAGE, OPTIONS, argv, (1, 1))
    create_from(opts, container_id, ctx)
