"""The example of docs/library.md (kept identical by tests/integration/test_docs.py)."""
import json, os, shutil, signal, tempfile, time
from ocirt import Container
from ocirt.spec.defaults import default_config

# A bundle: the example rootfs and a config that runs a shell loop.
bundle = tempfile.mkdtemp()
config = default_config(["sh", "-c", "echo hello from $(hostname); sleep 60"], terminal=False)
config["root"]["path"] = os.path.abspath("bundles/busybox/rootfs")
config["hostname"] = "libdemo"
with open(os.path.join(bundle, "config.json"), "w") as f:
    json.dump(config, f)

root = tempfile.mkdtemp()                     # a private state directory
c = Container.create("libdemo", bundle, root)
print(c.status)                               # created
c.start()
print(Container.load("libdemo", root).status) # running
c.kill(signal.SIGKILL)
while c.status != "stopped":
    time.sleep(0.01)
c.delete()
print([s["id"] for s in Container.list(root)])  # []
shutil.rmtree(bundle); shutil.rmtree(root)
