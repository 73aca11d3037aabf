"""The first line of `make test`: the database the tests use, and that it is not `make run`'s.

    python -m tests.database_banner run           the database `make run` uses in this environment
    python -m tests.database_banner test PHRASE   the line `make test` prints first (PHRASE: the above)

Read from the settings themselves (the environment and .env), as pytest-django will see them.
"""

import sys


def _database() -> dict:
    from rewards_site import settings

    return settings.DATABASES["default"]


def _where(db: dict) -> str:
    return f"{db.get('HOST') or 'localhost'}:{db.get('PORT') or 5432}"


def run_database(db: dict) -> str:
    if db["ENGINE"].endswith("sqlite3"):
        return f"the SQLite file {db['NAME']}"
    return f"PostgreSQL database {db['NAME']} on {_where(db)}"


def test_line(db: dict, *, run: str) -> str:
    name = (db.get("TEST") or {}).get("NAME")
    if db["ENGINE"].endswith("sqlite3"):
        used = f"SQLite test database {name}" if name else "an in-memory SQLite test database"
    else:
        used = f"PostgreSQL test database {name or 'test_' + db['NAME']} on {_where(db)}"
    return f"make test: {used}, created for this run and dropped at its end; not make run's ({run})"


def main(argv: list[str]) -> None:
    if argv[:1] == ["run"]:
        print(run_database(_database()))
    elif argv[:1] == ["test"] and len(argv) == 2:
        print(test_line(_database(), run=argv[1]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
