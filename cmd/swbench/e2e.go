package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"github.com/xdg-go/scram"

	"github.com/switchboard/switchboard/internal/ngircd"
	"github.com/switchboard/switchboard/internal/xmppload"
)

// e2eOptions are the flags every end-to-end scenario takes.
type e2eOptions struct {
	switchboard string // a built binary, or "" to build one
	jsonPath    string
	repeats     int
	workDir     string // where the daemon's data and the built binary go
}

func (o *e2eOptions) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&o.switchboard, "switchboard", "", "the switchboard `BINARY` to run (default: build cmd/switchboard with go build)")
	fl.StringVar(&o.jsonPath, "json", "", "also write the results to this JSON `FILE`")
	fl.IntVar(&o.repeats, "repeats", 3, "timed runs of each measurement; the median is reported")
}

// runE is an end-to-end scenario's command: prepare, run, write the JSON,
// clean up.
func runE[T any](o *e2eOptions, run func(context.Context, io.Writer) (T, error)) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, _ []string) error {
		cleanup, err := o.prepare(cmd.Context())
		if err != nil {
			return err
		}
		defer cleanup()
		res, err := run(cmd.Context(), cmd.OutOrStdout())
		if err != nil {
			return err
		}
		return writeJSON(o.jsonPath, res)
	}
}

// prepare makes the work directory and the binary.
func (o *e2eOptions) prepare(ctx context.Context) (cleanup func(), err error) {
	if o.repeats < 1 {
		return nil, errors.New("--repeats must be at least 1")
	}
	if o.workDir, err = os.MkdirTemp("", "swbench-e2e-"); err != nil {
		return nil, err
	}
	cleanup = func() { os.RemoveAll(o.workDir) }
	if o.switchboard, err = buildSwitchboard(ctx, o.switchboard, o.workDir); err != nil {
		cleanup()
		return nil, err
	}
	return cleanup, nil
}

// The bridged user and their channel.
const (
	rigUser     = "alice"
	rigPassword = "swbench correct horse"
	rigNetwork  = "ircnet"
	rigChannel  = "#bench"
	rigRoom     = rigChannel + "@" + rigNetwork + "." + benchDomain
)

// rig is ngircd, the daemon with alice and her IRC network in #bench, and
// the load client in the channel.
type rig struct {
	dir  string
	irc  *ngircd.Server
	d    *daemon
	load *ircLoad
	sc   *scram.Client
}

// startRig starts everything in a fresh directory under o.workDir. With
// withIRC false there is no IRC server and no network: the daemon and
// alice only.
func startRig(ctx context.Context, out io.Writer, o *e2eOptions, name string, withIRC bool) (r *rig, err error) {
	r = &rig{}
	defer func() {
		if err != nil {
			r.stop()
		}
	}()
	if r.dir, err = os.MkdirTemp(o.workDir, name+"-"); err != nil {
		return nil, err
	}
	if r.sc, err = xmppload.NewScram(rigUser, rigPassword); err != nil {
		return nil, err
	}
	if withIRC {
		ircDir := filepath.Join(r.dir, "ngircd")
		if err := os.Mkdir(ircDir, 0o700); err != nil {
			return nil, err
		}
		// No flood penalty: the load client posts far more than the three
		// lines a second ngircd allows a user.
		if r.irc, err = ngircd.Start(ngircd.Options{Dir: ircDir, NoPenalty: true, MaxConnectionsIP: 200}); err != nil {
			return nil, err
		}
		// The load client creates the channel, so it sees the bridge join.
		if r.load, err = dialIRCLoad(r.irc.Addr, "loadbot", rigChannel); err != nil {
			return nil, err
		}
	}
	if r.d, err = startDaemon(o.switchboard, r.dir, filepath.Join(r.dir, "data")); err != nil {
		return nil, err
	}
	if err := r.d.addUser(rigUser, rigPassword); err != nil {
		return nil, err
	}
	if withIRC {
		joined := r.load.expect(":" + rigUser + "!")
		start := time.Now()
		if _, err := r.d.admin("", "network", "add", rigUser, rigNetwork, "--kind", "irc", "--addr", "irc://"+r.irc.Addr,
			"--nick", rigUser, "--join", rigChannel); err != nil {
			return nil, err
		}
		// The daemon notices the CLI's change within a few seconds.
		if err := r.load.await(joined, 30*time.Second, "waiting for the bridge to join "+rigChannel); err != nil {
			return nil, fmt.Errorf("%w\nswitchboard log:\n%s", err, r.d.log.String())
		}
		fmt.Fprintf(out, "  the daemon's IRC bridge joined %s %.1f s after `network add`\n", rigChannel, time.Since(start).Seconds())
	}
	return r, nil
}

// stop stops everything the rig started, the daemon first.
func (r *rig) stop() {
	if r.d != nil {
		if err := r.d.stop(); err != nil {
			fmt.Fprintln(os.Stderr, "swbench:", err)
		}
	}
	if r.load != nil {
		r.load.close()
	}
	if r.irc != nil {
		r.irc.Stop()
	}
}

// device logs in an XMPP device of alice.
func (r *rig) device(resource string) (*xmppload.Client, error) {
	return xmppload.Device(r.d.xmppAddr, benchDomain, r.sc, resource)
}
