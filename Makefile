# Two commands set up a fresh machine: `make demo` runs the main job on the bundled sample,
# `make test` runs the test suite. Both create (or reuse) .venv.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# torch is pinned to the tested version: an unpinned torch pulls the newest CUDA build (gigabytes).
PIP_INSTALL := $(BIN)/python -m pip install --quiet -c constraints.txt

.PHONY: demo test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	# pip 23 skips trafilatura's lxml_html_clean; upgrade first.
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed-%: pyproject.toml constraints.txt setup.py bpe/_merge.c | $(BIN)/python
	$(PIP_INSTALL) -e '.[$*]'
	touch $@

demo: $(VENV)/.installed-train
	rm -rf out/demo && mkdir -p out/demo
	# WebText from the bundled sample: Reddit dumps -> links -> pages replayed from WARC -> shards.
	$(BIN)/webtext build --submissions 'samples/build/RS_*.zst' --warc 'samples/build/*.warc.gz' \
		--before 2018-01-01 --out out/demo/webtext --write-dropped
	$(BIN)/webtext bpe count out/demo/webtext
	# GPT-2's own tokenizer: token statistics of the sample, and an exact round trip.
	$(BIN)/webtext bpe count samples/documents.jsonl
	$(BIN)/webtext bpe encode --ordinary --format npy -o out/demo/readme.npy README.md
	$(BIN)/webtext bpe decode --format npy out/demo/readme.npy | cmp - README.md
	@echo "demo: README.md -> out/demo/readme.npy -> decoded back byte for byte"
	# A vocabulary of our own from the built shards: count pre-tokens with Beam, train on the counts, use it.
	$(BIN)/webtext bpe count-pretokens 'out/demo/webtext/documents-*.parquet' --out out/demo/counts
	$(BIN)/webtext bpe train --counts 'out/demo/counts/counts-*.parquet' --vocab-size 800 --out out/demo/vocab
	$(BIN)/webtext bpe count --vocab out/demo/vocab 'out/demo/webtext/documents-*.parquet'
	# GPT-2 token shards of the corpus, in llm.c's format.
	$(BIN)/webtext tokenize --shards out/demo/webtext --out out/demo/tokens --shard-tokens 4096
	# A tiny GPT-2 trained briefly on those shards (CPU), then sampled.
	$(BIN)/webtext train --data out/demo/tokens --out out/demo/model --n-layer 2 --n-head 2 --n-embd 64 \
		--seq-len 64 --batch-size 8 --total-batch-tokens 512 --max-steps 40 --warmup-steps 5 --lr 3e-3 \
		--val-interval 20 --val-steps 2
	$(BIN)/webtext generate --checkpoint out/demo/model/checkpoint.pt --prompt "The bridge" \
		--max-tokens 30 --seed 1 --show-probs
	# Zero-shot style evaluation of that model: held-out loss on the val shards, bits per byte of the README.
	$(BIN)/webtext eval --checkpoint out/demo/model/checkpoint.pt --task heldout --data out/demo/tokens \
		--json out/demo/eval-heldout.json --no-progress
	$(BIN)/webtext eval --checkpoint out/demo/model/checkpoint.pt --task text --data README.md \
		--limit 40 --no-progress
	# The paper's zero-shot task formats, on one tiny hand-written file each (samples/eval).
	for task in lambada:lambada_sample.jsonl cbt-cn:cbtest_CN_sample.txt hellaswag:hellaswag_sample.jsonl \
		wikitext:wiki.sample.tokens; do \
		$(BIN)/webtext eval --checkpoint out/demo/model/checkpoint.pt --task $${task%%:*} \
			--data samples/eval/$${task#*:} --no-progress || exit 1; \
	done

test: $(VENV)/.installed-train,test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -q

bench: $(VENV)/.installed-train,test
	$(BIN)/python bench/bpe_encode.py
	$(BIN)/python bench/bpe_train.py
	$(BIN)/python bench/build.py
	$(BIN)/python bench/dedup.py
	$(BIN)/python bench/train_step.py
	$(BIN)/python bench/eval.py

clean:
	rm -rf out .pytest_cache .ruff_cache
