# Two commands do all the set-up on a fresh machine (Python 3.11 and the package registries):
#   make compare   create .venv on first use, then run the main job (`workbook compare`)
#   make test      create .venv on first use, then run the project's tests (invariants, data, reports, lessons)
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export KERAS_BACKEND := tensorflow
export TF_CPP_MIN_LOG_LEVEL := 2

.PHONY: install compare quick test test-fast grade grade-solutions release lock bench lessons

install: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --disable-pip-version-check -q -r requirements.lock
	$(BIN)/pip install --disable-pip-version-check -q --no-deps -e .
	touch $(STAMP)

compare: install            ## the main job: both frameworks, same data, one report
	$(BIN)/workbook compare $(ARGS)

quick: install              ## the same in under 3 minutes
	$(BIN)/workbook compare --quick $(ARGS)

test: install               ## everything CI runs (about 20 minutes on 2 cores)
	$(BIN)/pytest tests -q --durations=15 $(ARGS)

test-fast: install          ## while editing: everything but the tests marked slow (a few minutes)
	$(BIN)/pytest tests -q -m "not slow" $(ARGS)

bench: install              ## CIFAR-10 time to accuracy (~15 min; ARGS=--full for hours): bench/results/summary.md
	$(BIN)/python -m bench $(ARGS)

lessons: install            ## run every lesson as a learner would and store it with its outputs (~15 min)
	$(BIN)/workbook lessons $(ARGS)

grade: install              ## grade your work in weeks/
	$(BIN)/pytest autograder $(ARGS)

grade-solutions: install    ## grade the reference solutions
	$(BIN)/pytest autograder --solutions $(ARGS)

release: install            ## authors: regenerate weeks/ from solutions/
	$(BIN)/workbook release

lock:                       ## authors: re-pin every dependency from a fresh venv
	rm -rf /tmp/workbook-lock && $(PYTHON) -m venv /tmp/workbook-lock
	/tmp/workbook-lock/bin/pip install -q -e .
	/tmp/workbook-lock/bin/pip freeze --exclude-editable | grep -v '^-e' > requirements.lock
