package demo

import (
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"time"

	"github.com/custos-dev/custos/internal/event"
	"github.com/custos-dev/custos/internal/store"
)

// Summary is what "custos demo" tells its user once the world is ready.
type Summary struct {
	World *World
	Stats Stats
	// Alerts are the detectors' alerts; those with an Action contained
	// their actor.
	Alerts []store.Alert
	// Leak is the path of the leaked list, Addr the gateway's address.
	Leak, Addr string
	Took       time.Duration
}

// Contained returns how many people the detectors contained.
func (s Summary) Contained() int {
	who := map[string]bool{}
	for _, a := range s.Alerts {
		if a.Action != "" {
			who[a.Actor] = true
		}
	}
	return len(who)
}

// Print writes the summary as text: the world, the answers and the
// detectors' result, where to sign in, one token per role, and commands
// to try.
func (s Summary) Print(out io.Writer) {
	w, st, addr := s.World, s.Stats, s.Addr
	fmt.Fprintf(out, "\ncustos demo is ready (%s)\n\n", s.Took.Round(time.Second))
	fmt.Fprintf(out, "  world      %d customers, %d principals, %d events of work replayed as %d API requests\n",
		len(w.Customers), len(w.Principals), st.Events, st.Requests)
	fmt.Fprintf(out, "  answers   ")
	codes := make([]int, 0, len(st.ByStatus))
	for c := range st.ByStatus {
		codes = append(codes, c)
	}
	sort.Ints(codes)
	for _, c := range codes {
		fmt.Fprintf(out, " %d×%d", c, st.ByStatus[c])
	}
	fmt.Fprintf(out, "\n  detectors  %d alerts, %d people contained (hidden insiders: %d)\n\n", len(s.Alerts), s.Contained(), len(w.Insiders))
	fmt.Fprintf(out, "Dashboard:  http://%s/      (sign in with a token below)\n", addr)
	sample := ""
	for _, ev := range w.Events {
		if c, ok := w.Customer(ev.Customer); ok && ev.Action == event.ActionRead && !c.Canary {
			sample = c.Phone
			break
		}
	}
	fmt.Fprintf(out, "Customers:  http://%s/my    (sign in with a customer's phone, e.g. %s; the code lands in outbox.jsonl in the data dir)\n\n", addr, sample)
	fmt.Fprintf(out, "Tokens, one per role:\n")
	seen := map[string]bool{}
	for _, p := range w.Principals {
		if seen[p.Role] {
			continue
		}
		seen[p.Role] = true
		fmt.Fprintf(out, "  %-18s %-14s %s\n", p.Role, p.ID, p.Token)
	}
	sec, _ := w.ByRole("security_analyst")
	aud, _ := w.ByRole("auditor")
	fmt.Fprintf(out, "\nTry:\n")
	fmt.Fprintf(out, "  curl -s -H 'Authorization: Bearer %s' http://%s/v1/alerts\n", sec.Token, addr)
	fmt.Fprintf(out, "  curl -s -H 'Authorization: Bearer %s' http://%s/v1/audit/checkpoint\n", aud.Token, addr)
	fmt.Fprintf(out, "  curl -s http://%s/log/checkpoint\n", addr)
	if s.Leak != "" {
		fmt.Fprintf(out, "  custos trace --data %s --leak %s\n", filepath.Dir(s.Leak), s.Leak)
	}
	fmt.Fprintf(out, "  custos audit verify --data %s\n\n", filepath.Dir(s.Leak))
}
