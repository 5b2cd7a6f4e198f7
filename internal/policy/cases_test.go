package policy

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestRunCasesReportsMismatches(t *testing.T) {
	file := `# comment

{"name":"right","principal":{"role":"store_clerk"},"action":"read","purpose":"ticket:T-1","purpose_valid":true,"expect":"allow","fields":{"phone":"masked"}}
// another comment
{"name":"wrong decision","principal":{"role":"store_clerk"},"action":"read","expect":"allow"}
{"name":"wrong reason","principal":{"role":"store_clerk"},"action":"read","expect":"deny","reason":"quota_exceeded"}
{"name":"wrong field","principal":{"role":"store_clerk"},"action":"read","purpose":"consent","purpose_valid":true,"expect":"allow","fields":{"phone":"masked","name":"full"}}
{"principal":{"role":"auditor"},"action":"audit.read","expect":"allow","policies":["security-analyst-duties"]}
`
	res, err := RunCases(Default(), strings.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		line     int
		name     string
		mismatch string
	}{
		{3, "right", ""},
		{5, "wrong decision", "decision: want allow, got deny (purpose_required)"},
		{6, "wrong reason", "reason: want quota_exceeded, got purpose_required"},
		{7, "wrong field", "field phone: want masked, got full"},
		{8, "line 8", "policy security-analyst-duties not among the determining policies [auditor-duties]"},
	}
	if len(res) != len(want) {
		t.Fatalf("%d results, want %d", len(res), len(want))
	}
	for i, w := range want {
		r := res[i]
		if r.Line != w.line || r.Name != w.name {
			t.Errorf("result %d is %s line %d, want %s line %d", i, r.Name, r.Line, w.name, w.line)
		}
		got := strings.Join(r.Mismatches, "; ")
		if got != w.mismatch {
			t.Errorf("%s: mismatches %q, want %q", w.name, got, w.mismatch)
		}
		if r.OK() != (w.mismatch == "") {
			t.Errorf("%s: OK() = %v", w.name, r.OK())
		}
	}
}

func TestParseCasesErrors(t *testing.T) {
	tests := []struct {
		name, file, want string
	}{
		{"empty", "# nothing\n", "no cases"},
		{"not json", "{\"action\":\n", "line 1"},
		{"unknown key", `{"action":"read","expect":"allow","principle":{}}`, "principle"},
		{"no action", `{"expect":"allow"}`, "action"},
		{"bad expect", `{"action":"read","expect":"yes"}`, "expect"},
		{"reason on allow", `{"action":"read","expect":"allow","reason":"forbidden"}`, "reason"},
		{"unknown field", "\n" + `{"action":"read","expect":"allow","fields":{"ssn":"full"}}`, "line 2: unknown field"},
		{"bad mode", `{"action":"read","expect":"allow","fields":{"phone":"partial"}}`, "partial"},
		{"bad hour", `{"action":"read","expect":"allow","hour":24}`, "hour"},
		{"two values", `{"action":"read","expect":"allow"} {}`, "more than one"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := RunCases(Default(), strings.NewReader(tt.file))
			if !errors.Is(err, ErrBadCase) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want ErrBadCase mentioning %q", err, tt.want)
			}
		})
	}
}

func TestCaseRequest(t *testing.T) {
	h := 3
	c := Case{Purpose: "breakglass:store: flooded", PurposeValid: true, Hour: &h, Action: "read"}
	r := c.Request()
	if r.Purpose.Kind != PurposeBreakGlass || r.Purpose.ID != "store: flooded" || !r.Purpose.Valid || r.Time.Hour() != 3 {
		t.Errorf("request %+v", r)
	}
}

// FuzzParseCases: parsing never panics, and every parsed case survives a
// JSON round trip unchanged.
func FuzzParseCases(f *testing.F) {
	f.Add(`{"name":"x","principal":{"role":"store_clerk","status":"stepup"},"action":"read","purpose":"consent:K","purpose_valid":true,"hour":4,"expect":"allow","fields":{"phone":"full"}}`)
	f.Add("# c\n{\"action\":\"list\",\"expect\":\"deny\",\"reason\":\"forbidden\",\"policies\":[\"a\"]}")
	f.Add(`{"action":"read","expect":"deny","customer":{"canary":true}}`)
	f.Fuzz(func(t *testing.T, s string) {
		cases, lines, err := ParseCases(strings.NewReader(s))
		if err != nil {
			return
		}
		if len(cases) != len(lines) {
			t.Fatalf("%d cases, %d lines", len(cases), len(lines))
		}
		var b strings.Builder
		for _, c := range cases {
			j, err := json.Marshal(c)
			if err != nil {
				t.Fatal(err)
			}
			b.Write(j)
			b.WriteByte('\n')
		}
		again, _, err := ParseCases(strings.NewReader(b.String()))
		if err != nil {
			t.Fatalf("re-parse: %v\n%s", err, b.String())
		}
		if !reflect.DeepEqual(cases, again) {
			t.Fatalf("round trip changed the cases:\n%+v\n%+v", cases, again)
		}
	})
}
