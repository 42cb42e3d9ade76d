"""The `paritrana` command: runs the stack, the services, migrations, keys and the operators' tools."""
