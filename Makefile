.PHONY: run test sandbox check
run:
	bash scripts/run
test:
	bash scripts/test
sandbox:
	bash scripts/run sandbox
check:
	bash scripts/run check
