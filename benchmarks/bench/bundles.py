"""The bundles every runtime runs: one busybox rootfs, shared by absolute
path, and `ocirt spec`'s default config with terminal off and the given
args (and, for one bundle, a seccomp profile)."""

import json
import os


def make_rootfs(build_rootfs, path, runner):
    runner([build_rootfs, path])
    return path


def make_bundle(ocirt, path, rootfs, args, runner, seccomp=None):
    os.makedirs(path)
    runner([ocirt, "spec", "--bundle", path])
    config_path = os.path.join(path, "config.json")
    with open(config_path) as f:
        config = json.load(f)
    config["root"]["path"] = rootfs
    config["process"]["terminal"] = False
    config["process"]["args"] = args
    if seccomp is not None:
        config["linux"]["seccomp"] = seccomp
    with open(config_path, "w") as f:
        json.dump(config, f, indent=2)
        f.write("\n")
    return path
