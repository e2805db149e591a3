"""Integration tests: real containers on this kernel, as root.

Every test gets its own --root and unique container ids; afterwards the
`no_leftovers` check proves that nothing of ours remains: no state directory,
no cgroup directory in any hierarchy, no process.
"""

import copy
import json
import os
import subprocess
import sys
import time
import uuid

import pytest

from ocirt.linux import cgroups
from ocirt.spec.defaults import default_config

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

pytestmark = pytest.mark.integration


def pytest_collection_modifyitems(items):
    if os.geteuid() != 0:
        skip = pytest.mark.skip(reason="integration tests need root")
        for item in items:
            if "integration" in item.keywords:
                item.add_marker(skip)


@pytest.fixture(scope="session")
def rootfs(tmp_path_factory):
    path = tmp_path_factory.mktemp("rootfs") / "rootfs"
    subprocess.run([os.path.join(REPO, "scripts", "build-rootfs"), str(path)], check=True)
    return str(path)


class Result:
    def __init__(self, code, out, err):
        self.code = code
        self.out = out
        self.err = err

    def __repr__(self):
        return f"<exit {self.code} out={self.out!r} err={self.err!r}>"


class Env:
    """One test's runtime: its state root, bundles and container ids."""

    def __init__(self, tmp_path, rootfs):
        self.tmp = tmp_path
        self.root = str(tmp_path / "state")
        self.rootfs = rootfs
        self.ids = []
        self._bundles = 0
        self._calls = 0

    def new_id(self, name="c"):
        cid = f"ocirt-test-{name}-{uuid.uuid4().hex[:8]}"
        self.ids.append(cid)
        return cid

    def config(self, args=("true",), **process):
        cfg = copy.deepcopy(default_config(list(args), terminal=False))
        cfg["root"]["path"] = self.rootfs
        cfg["process"].update(process)
        return cfg

    def bundle(self, cfg=None, args=("true",)):
        self._bundles += 1
        path = self.tmp / f"bundle{self._bundles}"
        path.mkdir()
        (path / "config.json").write_text(json.dumps(cfg if cfg is not None else self.config(args)))
        return str(path)

    def ocirt(self, *args, stdin=subprocess.DEVNULL, timeout=30, pass_fds=(), env=None, root=True,
              output=None, preexec_fn=None):
        """Run ocirt. stdout/stderr go to files, not pipes: a container made
        by `create` inherits them and would hold a pipe open. `output` names
        the stdout file (the container's output, for create and run)."""
        self._calls += 1
        out_path = output or self.tmp / f"out{self._calls}"
        err_path = self.tmp / f"err{self._calls}"
        cmd = [sys.executable, "-m", "ocirt"] + (["--root", self.root] if root else []) + list(args)
        with open(out_path, "w") as out, open(err_path, "w") as err:
            proc = subprocess.run(cmd, stdin=stdin, stdout=out, stderr=err, timeout=timeout,
                                  pass_fds=pass_fds, env=env, preexec_fn=preexec_fn)
        with open(out_path) as out, open(err_path) as err:
            return Result(proc.returncode, out.read(), err.read())

    def ok(self, *args, **kw):
        r = self.ocirt(*args, **kw)
        assert r.code == 0, r
        return r

    def state(self, cid):
        return json.loads(self.ok("state", cid).out)

    def create(self, cfg=None, args=("true",), name="c", extra=(), output=None):
        """Create a container; its stdout goes to `output` (a path) if given."""
        cid = self.new_id(name)
        r = self.ok("create", "--bundle", self.bundle(cfg, args), *extra, cid, output=output)
        assert r.out == "" and r.err == "", "create prints nothing of its own"
        return cid


def cgroup_dirs(cid):
    """Every directory named after the container in any hierarchy."""
    found = []
    for h in cgroups.hierarchies():
        for base, dirs, _ in os.walk(h.mountpoint):
            if cid in dirs:
                found.append(os.path.join(base, cid))
            if base.count("/") - h.mountpoint.count("/") >= 3:
                dirs[:] = []  # containers live near the top: keep the walk cheap
    return found


@pytest.fixture
def env(tmp_path, rootfs):
    e = Env(tmp_path, rootfs)
    yield e
    for cid in e.ids:
        e.ocirt("delete", "--force", cid)


def our_processes(ids):
    """Processes whose cgroup or command line names one of the ids."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                if f.read().rsplit(b")", 1)[1].split()[0] in (b"Z", b"X"):
                    continue  # dead; reaping an orphan is the host init's part
            with open(f"/proc/{name}/cgroup") as f:
                text = f.read()
            with open(f"/proc/{name}/cmdline", "rb") as f:
                text += f.read().decode(errors="replace")
        except OSError:
            continue  # gone meanwhile
        found += [f"process {name} of {cid}" for cid in ids if cid in text]
    return found


def our_mounts(env, allowed=()):
    """Mount points under the test's directories, state root and rootfs."""
    ours = [str(env.tmp), env.root, env.rootfs]
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            point = line.split()[4].replace("\\040", " ")
            if point not in allowed and any(point == d or point.startswith(d.rstrip("/") + "/") for d in ours):
                found.append(f"mount {point}")
    return found


def assert_nothing_left(env, ids, allowed_mounts=()):
    """No state dir, cgroup dir (any hierarchy), process or mount of ours."""
    leftovers = []
    for cid in ids:
        if os.path.exists(os.path.join(env.root, cid)):
            leftovers.append(f"state dir of {cid}")
        leftovers += cgroup_dirs(cid)
    leftovers += our_processes(ids) + our_mounts(env, allowed_mounts)
    assert not leftovers, leftovers


@pytest.fixture
def no_leftovers(env):
    """Asserts after the test that its containers left nothing behind: no
    state dir, cgroup dir, process or mount."""
    yield env
    assert_nothing_left(env, env.ids)



def wait_status(env, cid, wanted, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = env.state(cid)["status"]
        if status == wanted:
            return
        time.sleep(0.02)
    raise AssertionError(f"{cid} never became {wanted} (is {status})")


def wait_for_text(path, text, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in path.read_text():
            return
        time.sleep(0.02)
    raise AssertionError(f"{text!r} never appeared in {path}: {path.read_text()!r}")
