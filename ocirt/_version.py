VERSION = "0.1.0"
OCI_VERSION = "1.3.0"  # the runtime-spec version ocirt implements
