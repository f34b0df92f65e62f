package config

import (
	"path/filepath"
	"time"
)

// Config is the whole configuration of one daemon. Every field has a default
// (see Default), so an empty file is a working configuration.
type Config struct {
	// Domain is the XMPP domain users log in to (alice@Domain); bridged
	// networks appear as its sub-domains.
	Domain string `toml:"domain"`
	// DataDir holds the database and the generated TLS key pair. A relative
	// path is relative to the daemon's working directory.
	DataDir string `toml:"data_dir"`

	// AwayWhenDetached marks the user away on every network while no device
	// is connected, so people on IRC know a reply may take a while.
	AwayWhenDetached bool `toml:"away_when_detached"`
	// AwayMessage is the away text sent to networks in that case.
	AwayMessage string `toml:"away_message"`

	XMPP    XMPPConfig    `toml:"xmpp"`
	HTTP    HTTPConfig    `toml:"http"`
	TLS     TLSConfig     `toml:"tls"`
	Log     LogConfig     `toml:"log"`
	History HistoryConfig `toml:"history"`
	Auth    AuthConfig    `toml:"auth"`

	Federation FederationConfig `toml:"federation"`
	Upload     UploadConfig     `toml:"upload"`
}

// XMPPConfig is the client (c2s) port that XMPP apps connect to.
type XMPPConfig struct {
	// Addr is the STARTTLS port (HOST:PORT; an empty host means all
	// interfaces).
	Addr string `toml:"addr"`
	// DirectTLSAddr is the XEP-0368 direct TLS port.
	DirectTLSAddr string `toml:"direct_tls_addr"`
}

// HTTPConfig is the HTTPS port serving the API, the web page and the XMPP
// WebSocket endpoint.
type HTTPConfig struct {
	Addr string `toml:"addr"`
	// PublicURL is how devices, and the people they send links to,
	// reach this port: https://host[:port]. Empty means
	// https://DOMAIN:PORT with the port of Addr.
	PublicURL string `toml:"public_url"`
}

// UploadConfig is HTTP File Upload (XEP-0363): files devices share,
// kept in <data_dir>/uploads and served on the HTTPS port.
type UploadConfig struct {
	Enabled bool `toml:"enabled"`
	// MaxFileSizeMiB bounds one file.
	MaxFileSizeMiB int `toml:"max_file_size_mib"`
	// QuotaMiB bounds what one user keeps; 0 is no bound.
	QuotaMiB int `toml:"quota_mib"`
	// Retention is how long an upload is kept (pruned every
	// history.prune_interval); zero keeps uploads until removed by hand.
	Retention Duration `toml:"retention"`
}

// TLSConfig names the certificate served on every port. Both empty means a
// self-signed pair is generated once and kept in DataDir (see CertPaths).
type TLSConfig struct {
	CertFile string `toml:"cert_file"`
	KeyFile  string `toml:"key_file"`
}

// LogConfig sets what the daemon writes to its log and how.
type LogConfig struct {
	Level  string `toml:"level"`  // debug, info, warn or error
	Format string `toml:"format"` // text or json
}

// HistoryConfig bounds how long messages are kept.
type HistoryConfig struct {
	// Retention is how old a message may grow before it is pruned; zero keeps
	// everything forever.
	Retention Duration `toml:"retention"`
	// PruneInterval is how often the pruning runs.
	PruneInterval Duration `toml:"prune_interval"`
}

// AuthConfig slows down password guessing on every port.
type AuthConfig struct {
	// MaxLoginFailures is how many failed logins in a row lock an account
	// out for LoginLockout; zero disables the lockout.
	MaxLoginFailures int      `toml:"max_login_failures"`
	LoginLockout     Duration `toml:"login_lockout"`
}

// FederationConfig is how this server talks to other Switchboard servers
// (docs/federation.md).
type FederationConfig struct {
	// Discover lets the server reach any domain through its
	// https://DOMAIN/.well-known/switchboard; false limits it to Peers.
	Discover bool `toml:"discover"`
	// MaxAge is how long an undelivered event is retried before its
	// sender is told it failed.
	MaxAge Duration `toml:"max_age"`
	// Rate (requests per second) and Burst limit each peer's requests.
	Rate  float64 `toml:"rate"`
	Burst int     `toml:"burst"`
	// InboundRate and InboundBurst limit all peers' requests together.
	InboundRate  float64 `toml:"inbound_rate"`
	InboundBurst int     `toml:"inbound_burst"`
	// MaxQueued bounds one user's undelivered events to one peer.
	MaxQueued int `toml:"max_queued"`
	// Peers are reached without discovery: private networks and tests.
	Peers map[string]PeerConfig `toml:"peers"`
}

// PeerConfig is one statically known peer server.
type PeerConfig struct {
	// URL is the base URL its discovery document is fetched from.
	URL string `toml:"url"`
	// CAFile is a PEM certificate to trust for it (e.g. its self-signed
	// one), checked against the peer's domain; empty uses the system's.
	CAFile string `toml:"ca_file"`
}

// Default returns the configuration used for every key the file leaves out.
func Default() Config {
	return Config{
		Domain:           "localhost",
		DataDir:          "./switchboard-data",
		AwayWhenDetached: true,
		AwayMessage:      "Away (no device connected)",
		XMPP: XMPPConfig{
			Addr:          ":5222",
			DirectTLSAddr: ":5223",
		},
		HTTP: HTTPConfig{Addr: ":8443"},
		Log:  LogConfig{Level: "info", Format: "text"},
		History: HistoryConfig{
			Retention:     0,
			PruneInterval: Duration(time.Hour),
		},
		Auth: AuthConfig{
			MaxLoginFailures: 5,
			LoginLockout:     Duration(5 * time.Minute),
		},
		Federation: FederationConfig{
			Discover:     true,
			MaxAge:       Duration(72 * time.Hour),
			Rate:         50,
			Burst:        100,
			InboundRate:  2000,
			InboundBurst: 4000,
			MaxQueued:    10000,
			Peers:        map[string]PeerConfig{},
		},
		Upload: UploadConfig{Enabled: true, MaxFileSizeMiB: 100, QuotaMiB: 1024},
	}
}

// SelfSignedTLS reports whether the daemon generates its own certificate,
// that is whether no certificate files were configured. Callers use it to
// choose between creating the pair at CertPaths and merely loading it: a
// configured but missing file must be an error, not silently replaced.
func (c Config) SelfSignedTLS() bool {
	return c.TLS.CertFile == "" && c.TLS.KeyFile == ""
}

// CertPaths returns the certificate and key files to serve: the configured
// ones, or <data_dir>/tls/cert.pem and key.pem for the self-signed pair.
func (c Config) CertPaths() (cert, key string) {
	if !c.SelfSignedTLS() {
		return c.TLS.CertFile, c.TLS.KeyFile
	}
	dir := filepath.Join(c.DataDir, "tls")
	return filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
}
