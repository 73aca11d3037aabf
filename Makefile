# Set-up commands. `make run`: the demo on the embedded default. `make test`: the whole suite.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
# Where `make run` serves: its example calls and the demo's sandbox vendor (reward 350) use it.
SERVER_URL = http://$(if $(filter 0.0.0.0,$(HOST)),127.0.0.1,$(HOST)):$(PORT)
# PostgreSQL and Redis of `make test` when DATABASE_URL / REDIS_URL are not set and they answer locally.
LOCAL_PG_URL ?= postgres://postgres@127.0.0.1:5432/rewards
LOCAL_REDIS_URL ?= redis://127.0.0.1:6379/15

.PHONY: install run migrate demo test lint format worker beat bench-load clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed

migrate: install
	$(BIN)/python manage.py migrate --noinput

demo: migrate
	$(BIN)/python manage.py load_scenario scenarios/demo.json --replace --server-url $(SERVER_URL)
	$(BIN)/python manage.py ensure_demo_admin

run: demo
	@$(BIN)/python manage.py example_calls --base $(SERVER_URL)
	$(BIN)/python manage.py runserver $(HOST):$(PORT)

# The test database is created afresh and dropped at the end (--drop-db; a plain `pytest` keeps it
# for the next run). The first line says which one it is.
test: install
	@set -e; \
	port_open() { $(BIN)/python -c "import socket,sys; socket.create_connection(('127.0.0.1', int(sys.argv[1])), 0.5)" $$1 2>/dev/null; }; \
	run_database=$$($(BIN)/python -m tests.database_banner run); \
	if [ -z "$$DATABASE_URL" ] && port_open 5432; then export DATABASE_URL=$(LOCAL_PG_URL); fi; \
	if [ -z "$$REDIS_URL" ] && port_open 6379; then export REDIS_URL=$(LOCAL_REDIS_URL); fi; \
	export CELERY_TASK_ALWAYS_EAGER=$${CELERY_TASK_ALWAYS_EAGER:-1}; \
	$(BIN)/python -m tests.database_banner test "$$run_database"; \
	echo "make test: REDIS_URL=$${REDIS_URL:-<none: local-memory cache>}"; \
	$(BIN)/pytest --drop-db $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-logo
	$(BIN)/python manage.py makemigrations --check --dry-run

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

worker: install
	$(BIN)/celery -A rewards_site worker -l info

beat: install
	$(BIN)/celery -A rewards_site beat -l info --scheduler rewards_site.beat:HeartbeatScheduler

bench-load: install
	$(BIN)/python bench/load_coupons.py

clean:
	rm -rf $(VENV) db.sqlite3 db.sqlite3-wal db.sqlite3-shm
