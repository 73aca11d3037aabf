"""Events: the transactional outbox, its publisher thread, webhook deliveries and their tasks (the
models live in ``orgs``). Other apps emit events; the tasks here are queued by name."""
