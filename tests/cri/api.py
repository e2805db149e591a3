"""The CRI calls the tests make, as the kubelet makes them: runtime.v1 over
gRPC on a unix socket. Requests are written with protowire; the field
numbers are those of the CRI's api.proto (k8s.io/cri-api, runtime.v1), named
in the comments."""

from .protowire import Message, encode, entries

# enum ContainerState
CONTAINER_CREATED, CONTAINER_RUNNING, CONTAINER_EXITED, CONTAINER_UNKNOWN = range(4)
# enum PodSandboxState
SANDBOX_READY, SANDBOX_NOTREADY = range(2)
# enum NamespaceMode
POD, CONTAINER, NODE = range(3)


def namespace_options(pid=CONTAINER):
    """A NamespaceOption: network and IPC shared by the pod, and by default
    (as the kubelet's) a PID namespace per container. The kubelet sends the
    same to the pod and to each of its containers."""
    return {1: POD, 2: pid, 3: POD}  # network, pid, ipc


def pod_config(name, uid, namespace, hostname, log_directory, cgroup_parent, pid=CONTAINER):
    """A PodSandboxConfig."""
    return {
        1: {1: name, 2: uid, 3: namespace, 4: 0},  # metadata: name, uid, namespace, attempt
        2: hostname,
        3: log_directory,
        6: entries({"ocirt-test": "cri"}),  # labels
        8: {  # linux: LinuxPodSandboxConfig
            1: cgroup_parent,
            2: {1: namespace_options(pid)},  # security_context.namespace_options
        },
    }


def linux_resources(memory_limit=None, cpu_shares=None, cpu_quota=None, cpu_period=None):
    """LinuxContainerResources."""
    return {1: cpu_period, 2: cpu_quota, 3: cpu_shares, 4: memory_limit}


def container_config(name, image, command, args=(), log_path=None, resources=None, pid=CONTAINER):
    """A ContainerConfig."""
    return {
        1: {1: name, 2: 0},  # metadata: name, attempt
        2: {1: image},  # image: ImageSpec.image
        3: list(command),
        4: list(args),
        6: [{1: "OCIRT_CRI", 2: b"1"}],  # envs: KeyValue
        11: log_path,
        15: {  # linux: LinuxContainerConfig
            1: resources,
            2: {3: namespace_options(pid)},  # security_context.namespace_options
        },
    }


class RuntimeService:
    """containerd's CRI endpoint: RuntimeService and ImageService."""

    def __init__(self, socket, api="runtime.v1"):
        import grpc
        self.channel = grpc.insecure_channel("unix://" + socket)
        self.api = api

    def close(self):
        self.channel.close()

    def call(self, service, method, request, timeout=60):
        # No (de)serializers: grpc then sends and returns the raw bytes.
        stub = self.channel.unary_unary(f"/{self.api}.{service}/{method}")
        return Message(stub(encode(request), timeout=timeout))

    def _runtime(self, method, request, **kw):
        return self.call("RuntimeService", method, request, **kw)

    def version(self):
        r = self._runtime("Version", {1: "v1"})
        return {"runtime_name": r.str(2), "runtime_version": r.str(3), "runtime_api_version": r.str(4)}

    def status(self):
        """RuntimeStatus conditions: {type: (status, reason, message)}."""
        conditions = self._runtime("Status", {}).msg(1).repeated(1)
        return {c.str(1): (bool(c.int(2)), c.str(3), c.str(4)) for c in conditions}

    def image_id(self, ref):
        """The image's id if the node has it, else ''."""
        return self.call("ImageService", "ImageStatus", {1: {1: ref}}).msg(1).str(1)

    def run_pod_sandbox(self, config, runtime_handler):
        return self._runtime("RunPodSandbox", {1: config, 2: runtime_handler}, timeout=120).str(1)

    def pod_sandbox_status(self, pod_id):
        """state, ip, runtime_handler of a PodSandboxStatus."""
        s = self._runtime("PodSandboxStatus", {1: pod_id}).msg(1)
        return {"state": s.int(3), "ip": s.msg(5).str(1), "runtime_handler": s.str(9)}

    def stop_pod_sandbox(self, pod_id):
        self._runtime("StopPodSandbox", {1: pod_id}, timeout=120)

    def remove_pod_sandbox(self, pod_id):
        self._runtime("RemovePodSandbox", {1: pod_id}, timeout=120)

    def list_pod_sandbox_ids(self):
        return [item.str(1) for item in self._runtime("ListPodSandbox", {}).repeated(1)]

    def create_container(self, pod_id, config, sandbox_config):
        return self._runtime("CreateContainer", {1: pod_id, 2: config, 3: sandbox_config}).str(1)

    def start_container(self, container_id):
        self._runtime("StartContainer", {1: container_id})

    def stop_container(self, container_id, timeout):
        self._runtime("StopContainer", {1: container_id, 2: timeout}, timeout=timeout + 60)

    def remove_container(self, container_id):
        self._runtime("RemoveContainer", {1: container_id})

    def container_status(self, container_id):
        """state, exit_code, reason, log_path of a ContainerStatus."""
        s = self._runtime("ContainerStatus", {1: container_id}).msg(1)
        return {"state": s.int(3), "exit_code": s.int(7), "reason": s.str(10), "log_path": s.str(15)}

    def update_container_resources(self, container_id, resources):
        self._runtime("UpdateContainerResources", {1: container_id, 2: resources})

    def exec_sync(self, container_id, cmd, timeout=30):
        """(exit_code, stdout, stderr) of a command run in the container."""
        r = self._runtime("ExecSync", {1: container_id, 2: list(cmd), 3: timeout}, timeout=timeout + 30)
        return r.int(3), r.bytes(1).decode(), r.bytes(2).decode()
