"""One error hierarchy. Every error is one line that names what failed (a config
path, a file, a container and its state) so the CLI can print it as-is."""


class OcirtError(Exception):
    """Base of every error ocirt raises on purpose; exit code 1 unless set."""

    exit_code = 1


class ConfigError(OcirtError):
    """config.json is unreadable, malformed or breaks a rule of the spec."""

    def __init__(self, path, message, file="config.json"):
        self.path = path
        self.rule = message
        where = f"{path}: " if path else ""
        super().__init__(f"{file}: {where}{message}")


class InvalidIdError(OcirtError):
    pass


class NotFoundError(OcirtError):
    """The container id is unknown (clients match "does not exist")."""

    def __init__(self, container_id):
        self.container_id = container_id
        super().__init__(f"container does not exist: {container_id}")


class ExistsError(OcirtError):
    def __init__(self, container_id):
        super().__init__(f"container with id exists: {container_id}")


class StateError(OcirtError):
    """The operation is not legal in the container's current status."""

    def __init__(self, message, status):
        self.status = status
        super().__init__(message)


class NotRunningError(StateError):
    """Kept as runc words it: CRI matches "container not running"."""

    def __init__(self, container_id, status):
        super().__init__(f"container not running: {container_id} is {status}", status)


class RuntimeFailure(OcirtError):
    """The kernel or the container's init refused a step of create/start."""


class UsageError(OcirtError):
    exit_code = 2
