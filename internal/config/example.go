package config

// Example returns an annotated configuration file that sets every key to its
// default. It is the source of contrib/switchboard.example.toml and of the
// documentation; a test loads it and compares the result with Default, so the
// documented defaults cannot drift from the real ones.
func Example() string { return example }

const example = `# Switchboard configuration.
#
# Every key is optional: the values below are the built-in defaults. Unknown
# keys are refused, so a typo is reported instead of silently ignored.
# Durations are strings: "90s", "1h30m", or whole days such as "30d".

# The XMPP domain users log in to (alice@example.org). Bridged networks
# appear as its sub-domains (#go@libera.example.org). Lowercase DNS name.
domain = "localhost"

# Where the database and the generated TLS key pair live. A relative path is
# relative to the daemon's working directory.
data_dir = "./switchboard-data"

# Mark the user away on every network while no device is connected.
away_when_detached = true
away_message = "Away (no device connected)"

[xmpp]
# Client port for XMPP apps (STARTTLS). HOST:PORT; an empty host listens on
# all interfaces.
addr = ":5222"
# Direct TLS client port (XEP-0368).
direct_tls_addr = ":5223"

[http]
# HTTPS port: API, web page, XMPP over WebSocket and file uploads.
addr = ":8443"
# How devices, the people they send file links to, and other Switchboard
# servers reach this port: https://host[:port]. Empty means
# https://<domain>:<port of addr> for links, https://<domain> for servers.
public_url = ""

[tls]
# Certificate and key in PEM. Leave both empty to have a self-signed pair
# generated once and kept in <data_dir>/tls/.
cert_file = ""
key_file = ""

[log]
# debug, info, warn or error.
level = "info"
# text or json.
format = "text"

[history]
# How long messages are kept; "0s" keeps them forever.
retention = "0s"
# How often expired messages are pruned.
prune_interval = "1h"

[auth]
# Failed logins in a row before an account is locked out; 0 disables it.
max_login_failures = 5
# How long the lockout lasts.
login_lockout = "5m"

[federation]
# Other Switchboard servers write to users here as user@<domain>, over
# HTTPS (docs/federation.md), at http.public_url; when that is empty, at
# https://<domain> (port 443, where discovery looks).
# Reach any domain through its https://DOMAIN/.well-known/switchboard;
# false limits federation to the peers below.
discover = true
# How long an undelivered message is retried before its sender is told.
max_age = "3d"
# Requests per second, and burst, accepted from each peer server.
rate = 50.0
burst = 100
# Requests per second, and burst, accepted from all peer servers together.
inbound_rate = 2000.0
inbound_burst = 4000
# Undelivered events one user may have waiting for one peer server; past
# it, sending to that server fails until it takes some.
max_queued = 10000
# Peers reached without discovery, e.g.
#   [federation.peers."b.example"]
#   url = "https://10.0.0.2:8443"
#   ca_file = "/etc/switchboard/b.example.pem"
peers = {}

[upload]
# HTTP File Upload (XEP-0363): files shared from XMPP apps are kept in
# <data_dir>/uploads and served on the HTTPS port to anyone given the link.
enabled = true
# The largest file, in MiB.
max_file_size_mib = 100
# What one user may keep, in MiB; 0 is no limit.
quota_mib = 1024
# How long an upload is kept before it is deleted (its link then answers
# 404); "0s" keeps uploads forever.
retention = "0s"
`
