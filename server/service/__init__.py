"""Command handlers: each command runs in one unit of work (load, one domain operation, the
outbox rows of the events it recorded, commit). Servicers validate and render; they own no
transaction."""
