# The two commands a newcomer needs: `make lab` (deploy the lab) and `make test` (everything CI runs).
# Each does its own set-up: host packages, .venv, Docker engine, lab images.
SHELL := /bin/bash
.DEFAULT_GOAL := help

.PHONY: help lab lab-down test lint sanity unit integration molecule package images venv bench security

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

lab: ## stand up the lab VPS container + Vapi emulator and run site.yml against it
	scripts/lab.sh up

lab-down: ## remove the lab containers and stop the emulator
	scripts/lab.sh down

test: ## lint, ansible-test sanity, unit, integration, every Molecule scenario and the installed-tarball stage
	scripts/test.sh

lint: ## stage of `make test`: yamllint and ansible-lint (production profile)
	scripts/test.sh lint

sanity: ## stage of `make test`: ansible-test sanity on the installed collection
	scripts/test.sh sanity

unit: ## stage of `make test`: pytest tests/unit (plugins, filters, emulator, bench helpers)
	scripts/test.sh unit

integration: ## stage of `make test`: pytest tests/integration (real playbook runs, lab containers)
	scripts/test.sh integration

molecule: ## stage of `make test`: every Molecule scenario (BYOM_MOLECULE_SCENARIOS="a b" picks some)
	scripts/test.sh molecule

package: ## stage of `make test`: build the tarball, install it with only its declared dependencies, run ansible-doc, the lab and galaxy-importer on it
	scripts/test.sh package

images: ## build (or reuse) the offline lab images
	scripts/lab-images.sh

venv: ## create/refresh .venv from requirements-dev.txt
	scripts/venv.sh

bench: ## benchmark on this machine (about 75 min with the 30-min soak, waits for a quiet box first): writes bench/results.json
	scripts/bench.sh

security: ## security and fault suite (SIP attacks, toll fraud, API faults, bad input, secrets): summary table
	scripts/security.sh
