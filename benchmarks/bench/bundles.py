"""The bundles every runtime runs: one busybox rootfs, shared by absolute
path, and `ocirt spec`'s default config with terminal off and the given
args (and, for one bundle, a seccomp profile).

ociVersion is 1.0.2 in every bundle: crun 1.8 refuses any version but 1.0.x
("unknown version specified"), and all three runtimes read the newer fields
used here (seccomp's defaultErrnoRet) whatever the version says."""

import json
import os

OCI_VERSION = "1.0.2"


def make_rootfs(build_rootfs, path, runner):
    runner([build_rootfs, path])
    return path


def make_bundle(ocirt, path, rootfs, args, runner, seccomp=None):
    os.makedirs(path)
    runner([ocirt, "spec", "--bundle", path])
    config_path = os.path.join(path, "config.json")
    with open(config_path) as f:
        config = json.load(f)
    config["ociVersion"] = OCI_VERSION
    config["root"]["path"] = rootfs
    config["process"]["terminal"] = False
    config["process"]["args"] = args
    if seccomp is not None:
        config["linux"]["seccomp"] = seccomp
    with open(config_path, "w") as f:
        json.dump(config, f, indent=2)
        f.write("\n")
    return path
