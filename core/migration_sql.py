"""Raw SQL in migrations, per database vendor (triggers, storage parameters)."""


def run_sql_for(statements_by_vendor: dict[str, str | list[str]]):
    """A RunPython function executing the statements listed for the connection's vendor (none: no-op).

    Statements run with ``params=None`` so that ``%`` in PL/pgSQL format strings stays as written.
    """

    def run(apps, schema_editor):
        statements = statements_by_vendor.get(schema_editor.connection.vendor, [])
        for statement in [statements] if isinstance(statements, str) else statements:
            schema_editor.execute(statement, params=None)

    return run
