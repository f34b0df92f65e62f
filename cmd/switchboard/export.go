package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/switchboard/switchboard/core"
	"github.com/switchboard/switchboard/history"
)

// newProgress returns a progress bar on standard error when it is a
// terminal, and a silent one otherwise so logs stay readable.
func newProgress(cmd *cobra.Command, max int64, what string) *progressbar.ProgressBar {
	if f, ok := cmd.ErrOrStderr().(*os.File); !ok || !term.IsTerminal(int(f.Fd())) {
		return progressbar.DefaultSilent(max, what)
	}
	return progressbar.NewOptions64(max,
		progressbar.OptionSetWriter(cmd.ErrOrStderr()),
		progressbar.OptionSetDescription(what),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString("msg"),
		progressbar.OptionThrottle(100_000_000),
		progressbar.OptionClearOnFinish(),
	)
}

func newExportCommand(g *globals) *cobra.Command {
	var format, output string
	cmd := &cobra.Command{
		Use:   "export USER",
		Short: "Write a user's whole history as JSON lines",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) (err error) {
			ctx := cmd.Context()
			if format != "jsonl" {
				return fmt.Errorf("--format %q: the only format is jsonl", format)
			}
			st, u, err := g.openForUser(ctx, args[0])
			if err != nil {
				return err
			}
			defer st.Close()
			names, err := networkNames(ctx, st, u)
			if err != nil {
				return err
			}
			total, err := st.CountMessages(ctx, u.ID)
			if err != nil {
				return err
			}
			var w io.Writer = cmd.OutOrStdout()
			if output != "" && output != "-" {
				f, err := os.OpenFile(output, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600) // history is private
				if err != nil {
					return fmt.Errorf("--output: %w", err)
				}
				defer func() {
					if cerr := f.Close(); err == nil {
						err = cerr
					}
				}()
				w = f
			}
			bw := bufio.NewWriterSize(w, 1<<16)
			enc := json.NewEncoder(bw)
			bar := newProgress(cmd, total, "exporting")
			var n int64
			err = st.EachMessage(ctx, u.ID, func(m *core.Message) error {
				n++
				_ = bar.Add(1)
				// A reference kept by server id only is exported by the
				// network id of its target where it has one, since that is
				// the id the target carries after an import.
				for _, ref := range []*core.MessageRef{&m.ReplyTo, &m.CorrectionOf} {
					if ref.OriginID == "" && ref.ID != 0 {
						if target, err := st.Message(ctx, u.ID, ref.ID); err == nil {
							ref.OriginID = target.OriginID
						}
					}
				}
				return enc.Encode(history.NewRecord(m, names[m.Network]))
			})
			_ = bar.Finish()
			if err != nil {
				return err
			}
			if err := bw.Flush(); err != nil {
				return fmt.Errorf("writing export: %w", err)
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "exported %d messages of %s\n", n, u.Name)
			return nil
		},
	}
	cmd.Flags().StringVar(&format, "format", "jsonl", "output format (jsonl)")
	cmd.Flags().StringVarP(&output, "output", "o", "", "write to `FILE` instead of standard output")
	return cmd
}

// importBatch is how many messages one store transaction takes on import.
const importBatch = 1000

func newImportCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "import USER FILE",
		Short: "Add the messages of a JSON-lines export to a user's history",
		Long: `Add the messages of a file written by "switchboard export" to a user's history.
The file is checked whole before anything is stored: a bad line is reported
with its number and field, and nothing is imported. Messages already in the
history are skipped, so importing a file twice adds nothing the second time.
The networks the file names must exist for the user (see "network add").`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			st, u, err := g.openForUser(ctx, args[0])
			if err != nil {
				return err
			}
			defer st.Close()
			nets, err := st.Networks(ctx, u.ID)
			if err != nil {
				return err
			}
			byName := make(map[string]core.NetworkID, len(nets))
			for _, n := range nets {
				byName[n.Name] = n.ID
			}
			f, err := os.Open(args[1])
			if err != nil {
				return fmt.Errorf("FILE: %w", err)
			}
			defer f.Close()
			info, err := f.Stat()
			if err != nil {
				return fmt.Errorf("FILE: %w", err)
			}
			// First pass: check every line, so a bad file imports nothing.
			records, err := eachRecord(f, u, byName, nil)
			if err != nil {
				return fmt.Errorf("%s:%w", args[1], err)
			}
			if _, err := f.Seek(0, io.SeekStart); err != nil {
				return fmt.Errorf("FILE: %w", err)
			}
			bar := newProgress(cmd, info.Size(), "importing")
			var batch []core.Write
			var added, skipped int
			flush := func() error {
				if err := st.Import(ctx, batch); err != nil {
					return err
				}
				for _, w := range batch {
					if w.Duplicate {
						skipped++
					} else {
						added++
					}
				}
				batch = batch[:0]
				return nil
			}
			_, err = eachRecord(progressbar.NewReader(f, bar).Reader, u, byName, func(rec history.Record, m *core.Message) error {
				// A file exported from this same history: the message is
				// here under the record's id.
				if id, err := core.ParseMessageID(rec.ID); err == nil {
					if have, err := st.Message(ctx, u.ID, id); err == nil && have.Peer.Remote == rec.Conversation && have.Body == rec.Body {
						skipped++
						return nil
					}
				}
				batch = append(batch, core.Write{Message: m})
				if len(batch) == importBatch {
					return flush()
				}
				return nil
			})
			if err == nil && len(batch) > 0 {
				err = flush()
			}
			_ = bar.Finish()
			if err != nil {
				return fmt.Errorf("importing %s after %d messages: %w", args[1], added, err)
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "imported %d of %d messages into %s's history (%d already there)\n", added, records, u.Name, skipped)
			return nil
		},
	}
}

// maxRecordLine bounds one line of an import file.
const maxRecordLine = 4 << 20

// eachRecord decodes the lines of r and passes each message to fn (if not
// nil). It returns the number of records; errors start with the line number.
func eachRecord(r io.Reader, u core.User, networks map[string]core.NetworkID, fn func(history.Record, *core.Message) error) (int, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxRecordLine)
	line, records := 0, 0
	for sc.Scan() {
		line++
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		records++
		var rec history.Record
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&rec); err != nil {
			var te *time.ParseError
			if errors.As(err, &te) {
				return records, fmt.Errorf("%d: time: %w", line, err)
			}
			return records, fmt.Errorf("%d: %w", line, err)
		}
		netID, ok := networks[rec.Network]
		if !ok {
			return records, fmt.Errorf("%d: network: user %s has no network %q; add it first with \"switchboard network add\"", line, u.Name, rec.Network)
		}
		m, err := rec.Message(u.ID, netID)
		if err != nil {
			return records, fmt.Errorf("%d: %w", line, err)
		}
		if fn != nil {
			if err := fn(rec, m); err != nil {
				return records, err
			}
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return records, fmt.Errorf("%d: line longer than %d bytes", line+1, maxRecordLine)
		}
		return records, fmt.Errorf("%d: %w", line, err)
	}
	return records, nil
}
