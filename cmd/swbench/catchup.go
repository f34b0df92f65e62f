package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/switchboard/switchboard/internal/xmppload"
)

type catchupOptions struct {
	e2eOptions
	messages int
	page     int
	window   int
}

func newCatchupCommand() *cobra.Command {
	o := &catchupOptions{}
	cmd := &cobra.Command{
		Use:   "catchup",
		Short: "A device away for 100,000 channel messages fetches them all through MAM paging",
		Long: `Starts ngircd and the daemon with alice's IRC network in #bench. A device notes
the newest archive id of the channel's room and goes away; the load client
posts --messages lines into the channel, never more than --window ahead of
what an SSE subscriber has seen (so neither ngircd's queue to the bridge nor
the daemon's queue to the subscriber overflows); this also gives the ingest
rate through the IRC port. The
device then logs in again and pages forward through the room's archive
(XEP-0313 with XEP-0059, --page per page) from the id it noted until the
server says the archive is complete. The first fetch warms the caches and
is shown apart; the median of the timed ones is the figure.`,
		Args: cobra.NoArgs,
		RunE: runE(&o.e2eOptions, func(ctx context.Context, out io.Writer) (CatchupResult, error) { return runCatchup(ctx, out, o) }),
	}
	o.register(cmd)
	fl := cmd.Flags()
	fl.IntVar(&o.messages, "messages", 100000, "messages posted while the device is away")
	fl.IntVar(&o.page, "page", 250, "MAM page size (the port's maximum is 250)")
	fl.IntVar(&o.window, "window", 500, "lines the load client may be ahead of the SSE subscriber (the daemon drops a subscriber 1,024 events behind)")
	return cmd
}

// CatchupResult is the figures of one catch-up.
type CatchupResult struct {
	Env          Env     `json:"env"`
	Messages     int     `json:"messages"`
	PageSize     int     `json:"page_size"`
	Pages        int     `json:"pages"`
	Seconds      float64 `json:"seconds"`
	FirstSeconds float64 `json:"first_fetch_seconds"`
	PerSec       float64 `json:"messages_per_sec"`
	CPUms        float64 `json:"daemon_cpu_ms"`
	Runs         int     `json:"runs"`
	// Ingest is the rate the daemon took the lines in from IRC, stored
	// and sent them to an SSE subscriber, and its CPU per 1,000.
	IngestPerSec   float64 `json:"irc_ingest_messages_per_sec"`
	IngestCPUPer1k float64 `json:"irc_ingest_daemon_cpu_ms_per_1000"`
}

func runCatchup(ctx context.Context, out io.Writer, o *catchupOptions) (CatchupResult, error) {
	res := CatchupResult{Messages: o.messages, PageSize: o.page}
	if o.messages < 1 || o.page < 1 || o.window < 1 {
		return res, fmt.Errorf("--messages, --page and --window must be at least 1")
	}
	r, err := startRig(ctx, out, &o.e2eOptions, "catchup", true)
	if err != nil {
		return res, err
	}
	defer r.stop()
	return catchupOn(ctx, out, o, r)
}

// catchupOn runs the scenario on a running rig; the device catches up
// from the newest line the room's archive held at the start.
func catchupOn(ctx context.Context, out io.Writer, o *catchupOptions, r *rig) (CatchupResult, error) {
	res := CatchupResult{Messages: o.messages, PageSize: o.page}

	// The device notes where it is, then goes away.
	dev, err := r.device("away")
	if err != nil {
		return res, err
	}
	newest, err := dev.QueryArchive("last", xmppload.MAMQuery{To: rigRoom, Max: 1, Backwards: true})
	dev.Close()
	if err != nil {
		return res, err
	}
	lastSeen := newest.Last // "" when the archive is empty: fetch from the start

	api, err := newAPIClient(r.d.httpAddr, rigUser, rigPassword, 1)
	if err != nil {
		return res, err
	}
	defer api.close()
	body, rd, err := api.subscribe()
	if err != nil {
		return res, err
	}
	defer body.Close()
	watch := &receiver{}
	go watch.run(rd)

	cpu0, _ := r.d.cpuTime()
	start := time.Now()
	for i := range o.messages {
		for i-int(watch.count.Load()) >= o.window {
			if e := watch.err.Load(); e != nil {
				return res, fmt.Errorf("the event stream ended (the daemon drops a subscriber that falls 1,024 events behind; see --window): %v", *e)
			}
			time.Sleep(200 * time.Microsecond)
		}
		if err := r.load.send("PRIVMSG " + rigChannel + " :" + marker(i, time.Now()) + " a line of chat the device missed while it was away"); err != nil {
			return res, err
		}
	}
	deadline := time.Now().Add(60 * time.Second)
	for int(watch.count.Load()) < o.messages {
		if time.Now().After(deadline) {
			return res, fmt.Errorf("the daemon passed on %d of %d lines within 60 s of the last", watch.count.Load(), o.messages)
		}
		time.Sleep(time.Millisecond)
	}
	ingest := time.Since(start)
	cpu1, _ := r.d.cpuTime()
	res.IngestPerSec = float64(o.messages) / ingest.Seconds()
	res.IngestCPUPer1k = ms(cpu1-cpu0) / float64(o.messages) * 1000
	res.Env = currentEnv()
	fmt.Fprintf(out, "\ncatchup: %d lines in from IRC, stored and on an SSE stream at %.0f messages/s, daemon CPU %.0f ms per 1000 — %s\n",
		o.messages, res.IngestPerSec, res.IngestCPUPer1k, res.Env)

	var secs []float64
	for run := range o.repeats + 1 {
		dev, err := r.device("away")
		if err != nil {
			return res, err
		}
		cpu0, _ := r.d.cpuTime()
		t0 := time.Now()
		got, pages, err := fetchSince(dev, lastSeen, o.page)
		d := time.Since(t0)
		cpu1, _ := r.d.cpuTime()
		dev.Close()
		if err != nil {
			return res, err
		}
		if got != o.messages {
			return res, fmt.Errorf("the catch-up fetched %d messages, want %d", got, o.messages)
		}
		res.Pages = pages
		if run == 0 {
			res.FirstSeconds = d.Seconds()
			continue
		}
		secs = append(secs, d.Seconds())
		res.CPUms = ms(cpu1 - cpu0) // the last run's
	}
	res.Seconds = median(secs)
	res.PerSec = float64(o.messages) / res.Seconds
	res.Runs = o.repeats
	tw := newTable(out)
	fmt.Fprintf(tw, "catch-up of\tpage\tpages\tseconds\tmessages/s\tfirst fetch s\tdaemon CPU ms\t\n")
	fmt.Fprintf(tw, "%d\t%d\t%d\t%.2f\t%.0f\t%.2f\t%.0f\t\n", o.messages, o.page, res.Pages, res.Seconds, res.PerSec, res.FirstSeconds, res.CPUms)
	if err := tw.Flush(); err != nil {
		return res, err
	}
	fmt.Fprintf(out, "  median of %d fetches after one not counted — %s\n", o.repeats, currentEnv())
	return res, nil
}

// fetchSince pages forward through the room's archive after id until the
// server says it is complete, and checks the lines arrive in order.
func fetchSince(dev *xmppload.Client, after string, page int) (got, pages int, err error) {
	next := 0
	for {
		p, err := dev.QueryArchive("c"+strconv.Itoa(pages), xmppload.MAMQuery{To: rigRoom, After: after, Max: page})
		if err != nil {
			return got, pages, fmt.Errorf("page %d: %w", pages, err)
		}
		pages++
		for _, b := range p.Bodies {
			if want := marker(next, time.Time{})[:len("swbm"+strconv.Itoa(next)+"t")]; len(b) < len(want) || b[:len(want)] != want {
				return got, pages, fmt.Errorf("message %d of the catch-up is %q, want line %d", got, b, next)
			}
			next++
		}
		got += p.Results
		if p.Complete || p.Results == 0 {
			return got, pages, nil
		}
		after = p.Last
	}
}
