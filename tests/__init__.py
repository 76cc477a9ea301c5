# The server package sets grpc-core's settings before grpc is first imported: in-process test
# servers run with the same settings as `cartservice serve`.
import server  # noqa: F401
