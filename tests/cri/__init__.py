"""Test-side helpers to drive containerd's CRI API (the kubelet's view of a
runtime): a minimal protobuf wire codec, the few CRI calls the tests make,
and an OCI image archive built from a local rootfs."""
