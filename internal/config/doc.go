// Package config owns the daemon's one configuration file: the TOML schema,
// the built-in default of every key, loading the file over those defaults and
// validating the result, with errors that point at the file, line and key so
// an operator can fix a typo without reading the source.
//
// It also owns the annotated example file (see Example), so the documented
// defaults cannot drift from the real ones.
//
// config imports only the standard library and go-toml. It must not import any
// other package of the project: every other package receives plain values
// taken from a Config, wired together in cmd/.
package config
