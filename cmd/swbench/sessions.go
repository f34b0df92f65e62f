package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/switchboard/switchboard/internal/loopback"
	"github.com/switchboard/switchboard/internal/xmppload"
)

type sessionsOptions struct {
	e2eOptions
	counts  []int
	workers int
	hold    time.Duration
}

func newSessionsCommand() *cobra.Command {
	o := &sessionsOptions{}
	cmd := &cobra.Command{
		Use:   "sessions",
		Short: "Idle authenticated XMPP sessions: the daemon's resident memory per session and the login rate",
		Long: `Starts the daemon (a child process of the switchboard binary) with one user and
logs in N devices through its XMPP port (STARTTLS, SCRAM-SHA-256, bind,
roster, initial presence), --workers at a time. Resident memory per
session is the daemon's VmRSS (/proc/PID/status) after the N sessions
less its VmRSS with one session; the login rate is N over the time to log
them all in. The sessions are then held idle for --hold, and each must
still answer a ping. Each repeat runs a fresh daemon.`,
		Args: cobra.NoArgs,
		RunE: runE(&o.e2eOptions, func(ctx context.Context, out io.Writer) ([]SessionsResult, error) { return runSessions(ctx, out, o) }),
	}
	o.register(cmd)
	fl := cmd.Flags()
	fl.IntSliceVar(&o.counts, "sessions", []int{1000, 10000}, "idle session counts")
	fl.IntVar(&o.workers, "workers", 32, "logins in flight at once")
	fl.DurationVar(&o.hold, "hold", 5*time.Second, "how long the sessions stay idle before each must answer a ping")
	return cmd
}

// SessionsResult is one session count's figures, the median of the runs.
type SessionsResult struct {
	Env          Env     `json:"env"`
	Sessions     int     `json:"sessions"`
	KiBPerSess   float64 `json:"rss_kib_per_session"`
	RSSBaseMiB   float64 `json:"rss_base_mib"`
	LoginsPerSec float64 `json:"logins_per_sec"`
	LoginP50     float64 `json:"login_p50_ms"`
	LoginP99     float64 `json:"login_p99_ms"`
	CPUmsLogin   float64 `json:"daemon_cpu_ms_per_login"`
	Alive        int     `json:"alive_after_hold"`
	Runs         int     `json:"runs"`
}

func runSessions(ctx context.Context, out io.Writer, o *sessionsOptions) ([]SessionsResult, error) {
	if len(o.counts) == 0 || slices.Min(o.counts) < 2 || o.workers < 1 {
		return nil, fmt.Errorf("--sessions must be at least 2, --workers at least 1")
	}
	// This process holds the clients' ends; the daemon inherits the
	// limit and holds the server's.
	want := uint64(slices.Max(o.counts)) + 512
	if got := loopback.RaiseFileLimit(want); got < want {
		return nil, fmt.Errorf("%d sessions need %d open files per process; RLIMIT_NOFILE allows %d", slices.Max(o.counts), want, got)
	}
	var results []SessionsResult
	tw := newTable(out)
	fmt.Fprintf(tw, "\nsessions\tKiB RSS/session\tbase RSS MiB\tlogins/s\tlogin p50 ms\tlogin p99 ms\tdaemon CPU ms/login\talive after hold\t\n")
	for _, n := range o.counts {
		var runs []SessionsResult
		for range o.repeats {
			r, err := sessionsRun(ctx, o, n)
			if err != nil {
				return results, err
			}
			runs = append(runs, r)
		}
		res := runs[0]
		res.KiBPerSess = median(collect(runs, func(r SessionsResult) float64 { return r.KiBPerSess }))
		res.RSSBaseMiB = median(collect(runs, func(r SessionsResult) float64 { return r.RSSBaseMiB }))
		res.LoginsPerSec = median(collect(runs, func(r SessionsResult) float64 { return r.LoginsPerSec }))
		res.LoginP50 = median(collect(runs, func(r SessionsResult) float64 { return r.LoginP50 }))
		res.LoginP99 = median(collect(runs, func(r SessionsResult) float64 { return r.LoginP99 }))
		res.CPUmsLogin = median(collect(runs, func(r SessionsResult) float64 { return r.CPUmsLogin }))
		res.Alive = slices.Min(collect(runs, func(r SessionsResult) int { return r.Alive }))
		res.Runs = len(runs)
		results = append(results, res)
		fmt.Fprintf(tw, "%d\t%.1f\t%.1f\t%.0f\t%.1f\t%.1f\t%.2f\t%d\t\n", n, res.KiBPerSess, res.RSSBaseMiB, res.LoginsPerSec,
			res.LoginP50, res.LoginP99, res.CPUmsLogin, res.Alive)
		if res.Alive != n {
			tw.Flush()
			return results, fmt.Errorf("only %d of %d sessions answered a ping after %v idle", res.Alive, n, o.hold)
		}
	}
	if err := tw.Flush(); err != nil {
		return results, err
	}
	fmt.Fprintf(out, "  median of %d runs, each on a fresh daemon — %s\n", o.repeats, currentEnv())
	return results, nil
}

func collect[T any](runs []SessionsResult, f func(SessionsResult) T) []T {
	var out []T
	for _, r := range runs {
		out = append(out, f(r))
	}
	return out
}

func sessionsRun(ctx context.Context, o *sessionsOptions, n int) (SessionsResult, error) {
	res := SessionsResult{Env: currentEnv(), Sessions: n}
	r, err := startRig(ctx, io.Discard, &o.e2eOptions, "sessions", false)
	if err != nil {
		return res, err
	}
	defer r.stop()
	cs := make([]*xmppload.Client, n)
	defer func() {
		for _, c := range cs {
			if c != nil {
				c.Close()
			}
		}
	}()
	// One session first, not timed: it derives the client's SCRAM keys and
	// sets up what every session shares in the daemon.
	if cs[0], err = r.device("idle0"); err != nil {
		return res, err
	}
	time.Sleep(500 * time.Millisecond)
	rss0, err := r.d.rssKiB()
	if err != nil {
		return res, err
	}
	cpu0, _ := r.d.cpuTime()
	lat := make([]time.Duration, n-1)
	start := time.Now()
	err = xmppload.Parallel(n-1, o.workers, func(i int) error {
		t := time.Now()
		c, err := r.device(fmt.Sprintf("idle%d", i+1))
		lat[i] = time.Since(t)
		cs[i+1] = c
		return err
	})
	elapsed := time.Since(start)
	if err != nil {
		return res, err
	}
	cpu1, _ := r.d.cpuTime()
	time.Sleep(time.Second) // the last sessions' work settles
	rss1, err := r.d.rssKiB()
	if err != nil {
		return res, err
	}
	res.KiBPerSess = float64(rss1-rss0) / float64(n-1)
	res.RSSBaseMiB = float64(rss0) / 1024
	res.LoginsPerSec = float64(n-1) / elapsed.Seconds()
	l := summarise(lat)
	res.LoginP50, res.LoginP99 = l.P50, l.P99
	res.CPUmsLogin = ms(cpu1-cpu0) / float64(n-1)
	time.Sleep(o.hold)
	var alive atomic.Int64
	xmppload.Parallel(n, o.workers, func(i int) error {
		if cs[i].Ping() == nil {
			alive.Add(1)
		}
		return nil
	})
	res.Alive = int(alive.Load())
	return res, nil
}
