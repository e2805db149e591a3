"""User namespaces: writing a child's uid/gid maps from the parent.

Root writes /proc/PID/{uid,gid}_map itself. An unprivileged caller may write
only a map of its own ids (and must deny setgroups first); anything larger
goes through the setuid helpers newuidmap/newgidmap, which check
/etc/subuid and /etc/subgid.
"""

import os
import shutil
import subprocess


class IdMapError(OSError):
    pass


def _lines(mappings):
    return "".join(f"{m['containerID']} {m['hostID']} {m['size']}\n" for m in mappings)


def _only_self(mappings, own_id):
    return len(mappings) == 1 and mappings[0]["hostID"] == own_id and mappings[0]["size"] == 1


def _write(path, text, field):
    try:
        with open(path, "w") as f:
            f.write(text)
    except OSError as e:
        raise IdMapError(e.errno, f"linux.{field}: writing {path}: {e.strerror}") from None


def _helper(tool, pid, mappings, field):
    binary = shutil.which(tool)
    if binary is None:
        raise IdMapError(2, f"linux.{field}: mapping more than your own id needs {tool} (package uidmap)")
    args = [binary, str(pid)] + [str(v) for m in mappings for v in (m["containerID"], m["hostID"], m["size"])]
    r = subprocess.run(args, capture_output=True, text=True)
    if r.returncode != 0:
        raise IdMapError(1, f"linux.{field}: {tool} failed: {r.stderr.strip() or r.returncode}")


def write_maps(pid, uid_mappings, gid_mappings):
    """Give the process pid (just unshared into a new user namespace) its maps."""
    privileged = os.geteuid() == 0
    if gid_mappings:
        if privileged:
            _write(f"/proc/{pid}/gid_map", _lines(gid_mappings), "gidMappings")
        elif _only_self(gid_mappings, os.getegid()):
            # An unprivileged gid map is only allowed once setgroups is denied.
            _write(f"/proc/{pid}/setgroups", "deny", "gidMappings")
            _write(f"/proc/{pid}/gid_map", _lines(gid_mappings), "gidMappings")
        else:
            _helper("newgidmap", pid, gid_mappings, "gidMappings")
    if uid_mappings:
        if privileged or _only_self(uid_mappings, os.geteuid()):
            _write(f"/proc/{pid}/uid_map", _lines(uid_mappings), "uidMappings")
        else:
            _helper("newuidmap", pid, uid_mappings, "uidMappings")


def host_id(mappings, container_id):
    """The host id that container_id maps to, or None."""
    for m in mappings:
        if m["containerID"] <= container_id < m["containerID"] + m["size"]:
            return m["hostID"] + container_id - m["containerID"]
    return None
