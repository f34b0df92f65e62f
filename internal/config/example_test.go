package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestExampleLoadsToDefault(t *testing.T) {
	path := filepath.Join(t.TempDir(), "switchboard.example.toml")
	if err := os.WriteFile(path, []byte(Example()), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := Load(path)
	if err != nil {
		t.Fatalf("Load(Example()): %v", err)
	}
	if !reflect.DeepEqual(got, Default()) {
		t.Errorf("Example() loads to\n%+v\nwant Default()\n%+v", got, Default())
	}
}

// TestExampleListsEveryKey makes adding a field without documenting it fail:
// an omitted key would still load to its default and pass the test above.
func TestExampleListsEveryKey(t *testing.T) {
	doc, errs, ok := scan([]byte(Example()))
	if !ok || len(errs) > 0 {
		t.Fatalf("scan(Example()) = %v, %v", ok, errs)
	}
	for _, key := range leafKeys(reflect.TypeFor[Config](), "") {
		if _, ok := doc.lines[key]; !ok {
			t.Errorf("Example() does not set %q", key)
		}
	}
}

// leafKeys lists every dotted key of t that holds a value.
func leafKeys(t reflect.Type, prefix string) []string {
	var keys []string
	for i := range t.NumField() {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
		if f.Type.Kind() == reflect.Struct {
			keys = append(keys, leafKeys(f.Type, prefix+tag+".")...)
			continue
		}
		keys = append(keys, prefix+tag)
	}
	return keys
}

// TestContribExampleIsCurrent keeps the shipped example file identical to
// Example(); regenerate it with the command in the failure message.
func TestContribExampleIsCurrent(t *testing.T) {
	b, err := os.ReadFile("../../contrib/switchboard.example.toml")
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != Example() {
		t.Fatal("contrib/switchboard.example.toml differs from config.Example(); regenerate it: go run -tags sqlite_fts5 ./cmd/switchboard config example > contrib/switchboard.example.toml")
	}
}
