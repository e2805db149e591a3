"""The process choreography of a container: the fork/unshare chain, the
parent<->child sync protocol, the init that runs inside the namespaces up to
execve, and the supervision of an attached `run`."""
