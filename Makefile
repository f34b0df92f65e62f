# go-sqlite3 compiles FTS5 only with this tag; every target carries it so
# no binary with a silently broken search can be built from here.
TAGS := sqlite_fts5
GO   ?= go

.PHONY: run build test vet bench bench-10m bench-irc bench-xmpp bench-xmppbridge bench-http fuzz \
	swbench swbench-smoke swbench-fanout swbench-ingest swbench-search swbench-sessions swbench-catchup

# Run the daemon on its embedded defaults (data in ./switchboard-data).
run:
	$(GO) run -tags $(TAGS) ./cmd/switchboard serve

build:
	$(GO) build -tags $(TAGS) -o bin/ ./cmd/...

vet:
	$(GO) vet -tags $(TAGS) ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }

# The test command CI runs.
test: vet
	$(GO) test -tags $(TAGS) -race -count=1 -timeout 20m ./...

# Store figures at 1M messages (a few minutes; the generated database is
# kept under $TMPDIR/switchboard-swbench, keyed by generator version, and
# reused).
bench:
	$(GO) run -tags $(TAGS) ./cmd/swbench store --messages 1000000 --json swbench-store.json

# The same at 1M and 10M messages (about half an hour on 2 cores the first
# time, 3.5 GB of disk; --ingest-on-reuse measures ingest again later).
bench-10m:
	$(GO) run -tags $(TAGS) ./cmd/swbench store --messages 1000000,10000000 --json swbench-store.json

# End to end through the daemon's real ports (cmd/swbench): ngircd and the
# built switchboard binary run as child processes on loopback; each target
# prints a table and writes swbench-<scenario>.json. `make swbench` runs
# them all (about 15 minutes on 2 cores, plus the 1M history's generation
# the first time); `make swbench-smoke` runs each for a moment.
SWBENCH := $(GO) run -tags $(TAGS) ./cmd/swbench

swbench: swbench-ingest swbench-search swbench-fanout swbench-sessions swbench-catchup

swbench-smoke:
	$(SWBENCH) smoke --json swbench-smoke.json

swbench-fanout:
	$(SWBENCH) fanout --devices 1,10,100 --json swbench-fanout.json

swbench-ingest:
	$(SWBENCH) ingest --messages 1000000 --json swbench-ingest.json

# Add --messages 1000000,10000000 for the 10M history (3.5 GB of disk).
swbench-search:
	$(SWBENCH) search --messages 1000000 --json swbench-search.json

# 10,000 sessions need 10,512 open files in each process.
swbench-sessions:
	$(SWBENCH) sessions --sessions 1000,10000 --json swbench-sessions.json

swbench-catchup:
	$(SWBENCH) catchup --messages 100000 --json swbench-catchup.json

# The IRC bridge's figures: ingest, delivery latency, memory per network,
# gap fill (needs ngircd, as CI installs).
bench-irc:
	$(GO) test -tags $(TAGS) -run XXX -bench 'Ingest|DeliveryLatency|MemoryPerNetwork|GapFill' -benchtime 1x ./bridges/irc/

# The XMPP port's figures: fan-out to ten devices, memory per idle session
# (the clients in a child process; 10,000 sessions need 10,512 open files
# per process), login latency and rate. About five minutes on 2 cores.
bench-xmpp:
	$(GO) test -tags $(TAGS) -run XXX -bench 'FanoutTenDevices|RoomFanout|IdleSessionMemory|Login' -benchtime 1x -timeout 30m ./clientapi/xmpp/

# The XMPP bridge's figures against a real Prosody (as CI installs, with
# lua-dbi-sqlite3 for its archive): heap and stacks per connected upstream
# account (200 accounts), and the catch-up of 10,000 archived messages
# when the daemon comes back. A few minutes, most of it Prosody archiving.
bench-xmppbridge:
	$(GO) test -tags $(TAGS) -run XXX -bench 'AccountMemory|CatchUp10k' -benchtime 1x -timeout 30m ./bridges/xmpp/

# The HTTP port's figures: one message to 1,000 SSE subscribers, and the
# search API over 1,000,000 messages (generated once, about a minute, and
# kept under $TMPDIR/switchboard-httpbench). About two minutes on 2 cores.
bench-http:
	$(GO) test -tags $(TAGS) -run XXX -bench 'SSEFanout|Search1M' -benchtime 1x -timeout 30m ./clientapi/http/

# A short run of every fuzz target.
fuzz:
	$(GO) test -tags $(TAGS) -run XXX -fuzz FuzzTranslate -fuzztime 30s ./history/ftsquery/
	$(GO) test -tags $(TAGS) -run XXX -fuzz FuzzSearch -fuzztime 30s ./history/
	$(GO) test -tags $(TAGS) -run XXX -fuzz FuzzRecord -fuzztime 30s ./history/
	$(GO) test -tags $(TAGS) -run XXX -fuzz FuzzParseMessageID -fuzztime 30s ./core/
	$(GO) test -tags $(TAGS) -run XXX -fuzz FuzzHandle -fuzztime 30s ./bridges/irc/
	$(GO) test -tags $(TAGS) -run XXX -fuzz FuzzParseFormatting -fuzztime 30s ./bridges/irc/
	$(GO) test -tags $(TAGS) -run XXX -fuzz FuzzSplitMessage -fuzztime 30s ./bridges/irc/
	$(GO) test -tags $(TAGS) -run XXX -fuzz FuzzStanza -fuzztime 30s ./clientapi/xmpp/
	$(GO) test -tags $(TAGS) -run XXX -fuzz FuzzSASLStep -fuzztime 30s ./clientapi/xmpp/
	$(GO) test -run XXX -fuzz FuzzDuration -fuzztime 30s ./internal/config/
	$(GO) test -run XXX -fuzz FuzzLoad -fuzztime 30s ./internal/config/
	$(GO) test -tags $(TAGS) -run XXX -fuzz FuzzMarkerScanner -fuzztime 30s ./cmd/swbench/
