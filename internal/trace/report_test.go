package trace

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

// TestReportGolden checks the readable report and the JSON form against
// golden files (go test -run Golden -update rewrites them).
func TestReportGolden(t *testing.T) {
	r, s := world(t)
	leak, err := ParseLeak(strings.NewReader(leakCSV([2]int{1, 60}, [2]int{90, 95}) + "nobody,x\n"))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Trace(context.Background(), leak, r, s, func(id string) bool { return id == cid(95) }, WithUniverse(999))
	if err != nil {
		t.Fatal(err)
	}
	var text bytes.Buffer
	if err := rep.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	js, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	for name, got := range map[string][]byte{"report.txt": text.Bytes(), "report.json": append(js, '\n')} {
		path := filepath.Join("testdata", name)
		if *update {
			if err := os.MkdirAll("testdata", 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, got, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs:\n%s", name, got)
		}
	}
	// The contract's keys are present.
	var m map[string]any
	if err := json.Unmarshal(js, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"rows", "matched", "never_accessed", "canaries", "suspects", "orgs"} {
		if _, ok := m[k]; !ok {
			t.Errorf("JSON lacks %q", k)
		}
	}
}
