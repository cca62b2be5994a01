# Two commands matter: `make dev` runs the product locally, `make test` runs every test.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

STAGE  ?= prod
REGION ?= $(shell $(PYTHON) -c "import json; print(json.load(open('chalice.json'))['kabao']['region'])")

# AWS's DynamoDB Local, from the npm registry package, verified and cached (infra/local/dynamodb.py).
DDB_LOCAL := .local/dynamodb-local/2.9.30/DynamoDBLocal.jar

.PHONY: console debian dev test test-unit test-dates soak load install package deploy bench clean lint lock openapi fuzz

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

$(DDB_LOCAL): | $(STAMP)
	$(PY) -m infra.local.dynamodb fetch

# Debian packages the stack needs, installed when missing (CI runs as root on a fresh machine): Java 17 for
# DynamoDB Local (the JDK: it is started through Java's source launcher).
# Debian's chromium and a CJK font for the console's browser tests (Playwright's own download cannot work here).
debian:
	@command -v java >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jdk-headless)
	@(command -v chromium >/dev/null && test -f /usr/share/fonts/truetype/wqy/wqy-microhei.ttc) || \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-wqy-microhei)

# The console (console/, docs/console.md): npm ci when the lockfile changes, the API schema generated from
# openapi.json, and vite build when any source changed (the stamp); the built files are never committed.
CONSOLE_NPM := console/node_modules/.package-lock.json
CONSOLE_SCHEMA := console/src/api/schema.d.ts
CONSOLE_STAMP := console/dist/.built
CONSOLE_SOURCES := $(shell find console/src -type f ! -name schema.d.ts 2>/dev/null) console/index.html \
	console/vite.config.ts console/tsconfig.json console/package.json
$(CONSOLE_NPM): console/package-lock.json
	cd console && npm ci --no-audit --no-fund --loglevel=error
	touch $@
$(CONSOLE_SCHEMA): openapi.json $(CONSOLE_NPM)
	cd console && npm run --silent generate
$(CONSOLE_STAMP): $(CONSOLE_NPM) $(CONSOLE_SCHEMA) $(CONSOLE_SOURCES)
	cd console && npx vite build --logLevel warn
	touch $@
console: $(CONSOLE_STAMP)

install: debian $(STAMP) $(DDB_LOCAL) $(CONSOLE_STAMP)

dev: install
	$(PY) -m infra.local.dev

# Lint and types first (seconds), then every test on every core, then the date-bound tests once more on 29 February
# at 00:30 in Shanghai (still the 28th in UTC): tests must pass on any date (tests/timeline.py).
DATE_TESTS := $(addprefix tests/integration/,test_member_days.py test_lifecycle.py test_me.py test_refunds_after_reviews.py)
test: install lint
	cd console && npx vitest run
	$(PY) -m pytest -n auto
	KABAO_TEST_EPOCH=2028-02-28T16:30:00Z $(PY) -m pytest -n auto -q $(DATE_TESTS)

# The whole suite at other dates: a year from now, across a month's last midnight in Shanghai, 00:30 on New Year's
# Day and on 29 February in Shanghai (UTC still on the day before). About four times `make test`.
TEST_DATES := $(shell date -u -d '+1 year' +%Y-%m-%dT%H:%M:%SZ) 2027-04-30T15:58:00Z 2027-12-31T16:30:00Z \
	2028-02-28T16:30:00Z
# The pure rules alone: no stack, seconds.
test-unit: $(STAMP)
	$(PY) -m pytest -q tests/unit

test-dates: install
	for at in $(TEST_DATES); do echo "== KABAO_TEST_EPOCH=$$at"; KABAO_TEST_EPOCH=$$at $(PY) -m pytest -n auto -q || exit 1; done

# Lint rules, formatting, types (pyproject.toml) and the import contracts (.importlinter); `make test` runs it. `ruff format $(LINTED)` fixes the format.
LINTED := mini_program_api functions infra lambdas app.py
lint: $(STAMP) $(CONSOLE_SCHEMA)
	$(VENV)/bin/ruff check $(LINTED)
	$(VENV)/bin/ruff format --check $(LINTED)
	$(VENV)/bin/mypy
	PYTHONPATH=. $(VENV)/bin/lint-imports --no-cache --config .importlinter
	cd console && npx vue-tsc --noEmit

# requirements-dev.in (direct) -> requirements-dev.txt (the whole closure, pinned); runtime pins come
# from requirements.txt. Run after changing either file's direct dependencies.
lock: $(STAMP)
	$(VENV)/bin/pip-compile --quiet --no-emit-index-url --no-emit-find-links --strip-extras \
		--output-file requirements-dev.txt requirements-dev.in

# The contract: openapi.json from the route declarations, and the client's types generated from it.
openapi: $(STAMP)
	KABAO_STAGE=local $(PY) -m infra.contract
	cd client && (test -d node_modules || npm ci --no-audit --no-fund) && npm run generate

# schemathesis at length against the local stack (make test runs the same, bounded).
fuzz: install
	KABAO_FUZZ_EXAMPLES=150 KABAO_FUZZ_STEPS=40 $(PY) -m pytest tests/e2e/test_contract_fuzz.py -q

package: $(STAMP) $(CONSOLE_STAMP)
	$(PY) -m infra.deploy.package --stage $(STAGE) --out build/package

# Needs the AWS CLI, credentials for the merchant's account and an S3 bucket (see README "Deploy").
deploy: package
	@test -n "$(BUCKET)" || (echo "usage: make deploy BUCKET=<s3 bucket for the code> [STAGE=prod] [ALARM_TOPIC=<sns arn>]"; exit 2)
	aws cloudformation package --region $(REGION) --template-file build/package/sam.json \
		--s3-bucket $(BUCKET) --output-template-file build/package/packaged.yaml
	aws cloudformation deploy --region $(REGION) --template-file build/package/packaged.yaml \
		--stack-name kabao-$(STAGE) --capabilities CAPABILITY_IAM CAPABILITY_AUTO_EXPAND \
		$(if $(ALARM_TOPIC),--parameter-overrides AlarmTopicArn=$(ALARM_TOPIC))

bench: install
	$(PY) -m bench

# 10 000 mixed operations from 16 clients over HTTP, then every money invariant (bench/README.md).
soak: install
	$(PY) -m bench.soak $(if $(filter-out 0,$(CHAOS)),--chaos)

# Members logging in, signing in, claiming, paying at the till, over HTTP at 16 and 64 users (bench/README.md).
load: install
	$(PY) -m bench.load

clean:
	rm -rf $(VENV) .local build .pytest_cache client/node_modules client/dist console/node_modules console/dist
