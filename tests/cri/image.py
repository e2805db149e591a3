"""An OCI image archive (the layout `ctr images import` reads) made from a
local rootfs directory: one uncompressed layer, a config, a manifest and an
index naming the image. No registry, no network."""

import hashlib
import io
import json
import os
import platform
import tarfile

_ARCH = {"x86_64": "amd64", "aarch64": "arm64"}


def _layer(rootfs):
    def as_root(info):
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        return info

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(os.listdir(rootfs)):
            tar.add(os.path.join(rootfs, name), arcname=name, filter=as_root)
    return buf.getvalue()


def _descriptor(media_type, blob, **extra):
    return {"mediaType": media_type, "digest": "sha256:" + hashlib.sha256(blob).hexdigest(),
            "size": len(blob), **extra}


def write_archive(path, rootfs, name, entrypoint, cmd=()):
    """Write the image `name` (a full reference, e.g. localhost/x:1) of
    `rootfs` to the archive `path`."""
    arch = _ARCH.get(platform.machine(), platform.machine())
    layer = _layer(rootfs)
    config = json.dumps({
        "architecture": arch, "os": "linux",
        "config": {"Entrypoint": list(entrypoint), "Cmd": list(cmd), "Env": ["PATH=/bin"], "WorkingDir": "/"},
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(layer).hexdigest()]},
    }).encode()
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": _descriptor("application/vnd.oci.image.config.v1+json", config),
        "layers": [_descriptor("application/vnd.oci.image.layer.v1.tar", layer)],
    }).encode()
    index = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [_descriptor("application/vnd.oci.image.manifest.v1+json", manifest,
                                  platform={"architecture": arch, "os": "linux"},
                                  annotations={"io.containerd.image.name": name})],
    }).encode()
    files = {"oci-layout": json.dumps({"imageLayoutVersion": "1.0.0"}).encode(), "index.json": index}
    for blob in (layer, config, manifest):
        files["blobs/sha256/" + hashlib.sha256(blob).hexdigest()] = blob
    with tarfile.open(path, "w") as tar:
        for member, data in files.items():
            info = tarfile.TarInfo(member)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
