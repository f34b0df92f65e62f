package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/switchboard/switchboard/bridges/irc"
	httpapi "github.com/switchboard/switchboard/clientapi/http"
	"github.com/switchboard/switchboard/clientapi/upload"
	"github.com/switchboard/switchboard/clientapi/xmpp"
	"github.com/switchboard/switchboard/core"
	"github.com/switchboard/switchboard/history"
	"github.com/switchboard/switchboard/history/ftsquery"
	"github.com/switchboard/switchboard/internal/config"
	"github.com/switchboard/switchboard/internal/loginlimit"
	"github.com/switchboard/switchboard/internal/selfsigned"
)

// shutdownGrace is how long open HTTP requests get to finish on SIGTERM.
const shutdownGrace = 10 * time.Second

func newServeCommand(g *globals) *cobra.Command {
	var domain, xmppAddr, xmppTLSAddr, httpAddr string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the daemon",
		Long: `Run the daemon. With no configuration at all it runs on built-in defaults:
it creates the data directory, the database and a self-signed certificate,
and on the very first start creates the user "admin" and prints its password
once. SIGTERM or SIGINT shut it down gracefully.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := g.config()
			if err != nil {
				return err
			}
			fl := cmd.Flags()
			if fl.Changed("domain") {
				cfg.Domain = domain
			}
			if fl.Changed("xmpp-addr") {
				cfg.XMPP.Addr = xmppAddr
			}
			if fl.Changed("xmpp-tls-addr") {
				cfg.XMPP.DirectTLSAddr = xmppTLSAddr
			}
			if fl.Changed("http-addr") {
				cfg.HTTP.Addr = httpAddr
			}
			if err := cfg.Validate(); err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			return serve(ctx, cmd, cfg)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&domain, "domain", "", "the server's `DOMAIN` (users are user@DOMAIN; overrides domain)")
	fl.StringVar(&xmppAddr, "xmpp-addr", "", "XMPP client port `HOST:PORT` (overrides xmpp.addr)")
	fl.StringVar(&xmppTLSAddr, "xmpp-tls-addr", "", "XMPP direct TLS port `HOST:PORT` (overrides xmpp.direct_tls_addr)")
	fl.StringVar(&httpAddr, "http-addr", "", "HTTPS port `HOST:PORT` (overrides http.addr)")
	return cmd
}

func newLogger(cfg config.Config) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Log.Level)) // validated with the config
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}

func serve(ctx context.Context, cmd *cobra.Command, cfg config.Config) error {
	log := newLogger(cfg)
	slog.SetDefault(log)
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("creating data directory: %w", err)
	}
	// History is private: create the database owner-only before SQLite
	// does (its WAL and shared-memory files inherit the mode).
	f, err := os.OpenFile(databasePath(cfg), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("creating the database: %w", err)
	}
	f.Close()
	st, err := history.Open(ctx, databasePath(cfg), history.Options{Log: log})
	if err != nil {
		return err
	}
	// Closing the store last commits every append still queued.
	defer func() {
		if err := st.Close(); err != nil {
			log.Error("closing the store", "err", err)
		}
		log.Info("stopped")
	}()
	if err := createFirstUser(ctx, cmd, st, cfg); err != nil {
		return err
	}
	cert, err := loadCertificate(cfg)
	if err != nil {
		return err
	}

	irc.Version = versionString()
	if _, err := ensureFedNetworks(ctx, st); err != nil {
		return err
	}
	fedDir := &fedDirectory{st: st}
	fedSvc, err := newFedService(cfg, st, fedDir, log.With("component", "fed"))
	if err != nil {
		return err
	}
	hub := core.NewHub(core.HubConfig{
		Store:            newMeteredStore(st),
		History:          st,
		Rooms:            st,
		Bridges:          bridgeRegistry(fedSvc),
		Log:              log.With("component", "hub"),
		AwayWhenDetached: cfg.AwayWhenDetached,
		AwayStatus:       core.Status{Show: core.ShowAway, Text: cfg.AwayMessage},
	})

	fedDir.hub = hub

	// One login limiter for every port that takes a password, so a
	// guesser cannot try each port's allowance in turn.
	limiter := loginlimit.New(cfg.Auth.MaxLoginFailures, time.Duration(cfg.Auth.LoginLockout), time.Now)
	errc := make(chan error, 4)
	httpLn, err := net.Listen("tcp", cfg.HTTP.Addr)
	if err != nil {
		return fmt.Errorf("http.addr %s: %w", cfg.HTTP.Addr, err)
	}
	// File sharing from XMPP apps (XEP-0363), served on the HTTPS port.
	var uploads *upload.Service
	var uploadSlots core.Uploads // stays a nil interface when uploads are off
	if cfg.Upload.Enabled {
		uploads, err = upload.New(upload.Config{
			Dir:         filepath.Join(cfg.DataDir, "uploads"),
			BaseURL:     cfg.PublicURL(httpLn.Addr().String()),
			MaxFileSize: int64(cfg.Upload.MaxFileSizeMiB) << 20,
			Quota:       int64(cfg.Upload.QuotaMiB) << 20,
			Log:         log.With("component", "upload"),
		})
		if err != nil {
			httpLn.Close()
			return err
		}
		uploadSlots = uploads
	}
	api := httpapi.New(httpapi.Config{
		Store:   meteredAPIStore{st},
		Hub:     hub,
		Log:     log.With("component", "http"),
		Version: versionString(),
		Errors: httpapi.StoreErrors{
			NotFound: func(err error) bool { return errors.Is(err, history.ErrNotFound) },
			Exists:   func(err error) bool { return errors.Is(err, history.ErrExists) },
			BadQuery: func(err error) bool { var q *ftsquery.Error; return errors.As(err, &q) },
		},
		ValidateNetwork: validateSettings,
		Limiter:         limiter,
		Federation:      fedSvc.Handler(),
		Uploads:         uploadSlots,
	})
	httpSrv := &http.Server{
		Handler:           api.Handler(),
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}

	xmppSrv := xmpp.New(xmpp.Config{
		Uploads:   uploadSlots,
		Domain:    cfg.Domain,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		Store:     st,
		Hub:       hub,
		Log:       log.With("component", "xmpp"),
		Limiter:   limiter,
		Version:   versionString(),
		// The ad-hoc commands refuse what `network add` refuses.
		ValidateNetwork: validateSettings,
		Sessions:        httpapi.SessionsGauge("xmpp"),
	})
	// XMPP over WebSocket (RFC 7395) shares the HTTPS listener, so web
	// clients reach the same sessions through any firewall that lets
	// HTTPS out.
	web := http.NewServeMux()
	web.Handle(xmpp.WebSocketPath, xmppSrv.WebSocketHandler(ctx))
	if uploads != nil {
		web.Handle(upload.Path, uploads.Handler())
	}
	web.Handle("/", httpSrv.Handler)
	httpSrv.Handler = web

	var xmppLns []net.Listener
	for _, l := range []struct {
		key, addr string
		direct    bool
	}{{"xmpp.addr", cfg.XMPP.Addr, false}, {"xmpp.direct_tls_addr", cfg.XMPP.DirectTLSAddr, true}} {
		if l.addr == "" {
			continue
		}
		ln, err := net.Listen("tcp", l.addr)
		if err != nil {
			return fmt.Errorf("%s %s: %w", l.key, l.addr, err)
		}
		xmppLns = append(xmppLns, ln)
		go func(direct bool) {
			if err := xmppSrv.Serve(ctx, ln, direct); err != nil {
				errc <- fmt.Errorf("XMPP port: %w", err)
			}
		}(l.direct)
	}

	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = hub.Run(ctx)
	}()
	fedDone := make(chan struct{})
	go func() {
		defer close(fedDone)
		if err := fedSvc.Run(ctx); err != nil {
			errc <- fmt.Errorf("federation: %w", err)
		}
	}()
	go func() {
		if err := httpSrv.ServeTLS(httpLn, "", ""); !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("https port: %w", err)
		}
	}()
	go api.Run(ctx)
	go watchNetworks(ctx, st, hub, log)
	go pruneHistory(ctx, st, cfg, log)
	if uploads != nil && cfg.Upload.Retention > 0 {
		go pruneUploads(ctx, uploads, cfg, log.With("component", "upload"))
	}
	go maintainIndex(ctx, st, log)

	var xmppAddrs []string
	for _, ln := range xmppLns {
		xmppAddrs = append(xmppAddrs, ln.Addr().String())
	}
	log.Info("serving", "domain", cfg.Domain, "https", httpLn.Addr().String(), "xmpp", strings.Join(xmppAddrs, ","),
		"data_dir", cfg.DataDir, "version", versionString())

	var runErr error
	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case runErr = <-errc:
		log.Error("listener failed; shutting down", "err", runErr)
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := httpSrv.Shutdown(sctx); err != nil {
		log.Warn("closing HTTP connections", "err", err)
	}
	xmppSrv.Wait() // every XMPP stream got system-shutdown when ctx ended
	<-done
	<-fedDone
	return runErr
}

// createFirstUser makes the "admin" account on a fresh database and prints
// its password, the one time anybody sees it.
func createFirstUser(ctx context.Context, cmd *cobra.Command, st *history.Store, cfg config.Config) error {
	n, err := st.UserCount(ctx)
	if err != nil || n > 0 {
		return err
	}
	pw := core.GeneratePassword()
	if _, err := st.CreateUser(ctx, "admin", pw, true); err != nil {
		return fmt.Errorf("creating the first user: %w", err)
	}
	fmt.Fprintf(cmd.OutOrStdout(), "Created the first user: admin@%s\nPassword (shown only this once): %s\n", cfg.Domain, pw)
	return nil
}

func loadCertificate(cfg config.Config) (tls.Certificate, error) {
	certFile, keyFile := cfg.CertPaths()
	if cfg.SelfSignedTLS() {
		return selfsigned.LoadOrCreate(certFile, keyFile, cfg.Domain, "*."+cfg.Domain)
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return cert, fmt.Errorf("tls.cert_file/tls.key_file: %w", err)
	}
	return cert, nil
}

// networkPollInterval is how soon the daemon notices networks changed by
// the admin CLI in another process.
const networkPollInterval = 2 * time.Second

// watchNetworks restarts, starts and stops bridges when another process
// commits to the database, which is how the CLI's network changes arrive.
func watchNetworks(ctx context.Context, st *history.Store, hub *core.Hub, log *slog.Logger) {
	t := time.NewTicker(networkPollInterval)
	defer t.Stop()
	last, _ := st.DataVersion(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		v, err := st.DataVersion(ctx)
		if err != nil || v == last {
			continue
		}
		last = v
		// Users the CLI added get their fed network.
		if _, err := ensureFedNetworks(ctx, st); err != nil && ctx.Err() == nil {
			log.Warn("creating fed networks", "err", err)
		}
		if err := hub.SyncNetworks(ctx); err != nil && ctx.Err() == nil {
			log.Warn("applying network changes", "err", err)
		}
	}
}

// pruneUploads deletes uploads older than upload.retention, as often as
// history is pruned.
func pruneUploads(ctx context.Context, uploads *upload.Service, cfg config.Config, log *slog.Logger) {
	t := time.NewTicker(cfg.History.PruneInterval.Std())
	defer t.Stop()
	for {
		n, freed, err := uploads.Prune(time.Now().Add(-cfg.Upload.Retention.Std()))
		if err != nil {
			log.Error("pruning uploads", "err", err)
		}
		if n > 0 {
			log.Info("pruned uploads", "files", n, "bytes", freed)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func pruneHistory(ctx context.Context, st *history.Store, cfg config.Config, log *slog.Logger) {
	t := time.NewTicker(cfg.History.PruneInterval.Std())
	defer t.Stop()
	for {
		n, err := st.Prune(ctx, cfg.History.Retention.Std())
		switch {
		case err != nil && ctx.Err() == nil:
			log.Error("pruning history", "err", err)
		case n > 0:
			log.Info("pruned history", "messages", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// indexMaintenanceInterval is how often the search index's segments are
// merged; each step is short, so ingest is never held up for long.
const indexMaintenanceInterval = time.Minute

func maintainIndex(ctx context.Context, st *history.Store, log *slog.Logger) {
	t := time.NewTicker(indexMaintenanceInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, err := st.MergeIndex(ctx, 200); err != nil && ctx.Err() == nil {
			log.Warn("merging the search index", "err", err)
		}
	}
}
