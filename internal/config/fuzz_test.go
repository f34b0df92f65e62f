package config

import "testing"

// FuzzLoad feeds arbitrary files to the parser: it must never panic, and a
// file it accepts must also pass Validate.
func FuzzLoad(f *testing.F) {
	f.Add(Example())
	f.Add("domain = \"x\"\n[xmpp]\naddr = 5\n")
	f.Add("[history]\nretention = \"30d\"\nunknown = 1\n")
	f.Add("x = {a = [1, {b = 2}]}")
	f.Fuzz(func(t *testing.T, data string) {
		cfg, err := parse("fuzz.toml", []byte(data))
		if err != nil {
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("accepted a file that does not validate: %v\n%s", err, data)
		}
	})
}
