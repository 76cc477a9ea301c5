"""Domain objects rendered as messages of the protobuf contract: shared by the answers of
server.api and the event payloads of server.events, so both render a part the same way."""
