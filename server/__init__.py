from server.grpc_runtime import configure_grpc_core

configure_grpc_core()
