package demo

import (
	"bytes"
	"context"
	"encoding/csv"
	"sort"
	"strings"

	"github.com/custos-dev/custos/internal/event"
	"github.com/custos-dev/custos/internal/store"
)

// AuditReader is what Leak reads of the audit records.
type AuditReader interface {
	AuditByActor(ctx context.Context, actor string, from uint64) ([]store.AuditRecord, error)
	AuditByCustomer(ctx context.Context, customer string) ([]store.AuditRecord, error)
}

// Leak returns a leaked list, as CSV, as a criminal would sell it: what
// the worst insider pulled through custos (the one with the most allowed
// reads; their distinct customers), and rows that never left through
// custos at all — messy, as such lists are: a byte-order mark, padded and
// oddly cased headers, phones with and without +86 and spaces, duplicates.
func (w *World) Leak(ctx context.Context, st AuditReader) ([]byte, error) {
	best := 0
	seen := map[string]bool{}
	var rows []Customer
	for _, in := range w.Insiders {
		recs, err := st.AuditByActor(ctx, in.Actor, 0)
		if err != nil {
			return nil, err
		}
		n := 0
		mine, mineSeen := []Customer(nil), map[string]bool{}
		for _, r := range recs {
			ev, err := event.Parse(r.Event)
			if err != nil || ev.Decision != event.Allow || ev.Action != event.ActionRead {
				continue
			}
			n++
			if c, ok := w.Customer(ev.Customer); ok && !mineSeen[c.ID] {
				mineSeen[c.ID] = true
				mine = append(mine, c)
			}
		}
		if n > best {
			best, rows, seen = n, mine, mineSeen
		}
	}
	// Records from elsewhere: customers nobody read through custos.
	extra := 0
	for i := len(w.Customers) - 1; i >= 0 && extra < 25; i-- {
		c := w.Customers[i]
		if c.Canary || seen[c.ID] {
			continue
		}
		if recs, err := st.AuditByCustomer(ctx, c.ID); err == nil && len(recs) == 0 {
			rows = append(rows, c)
			seen[c.ID] = true
			extra++
		}
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Name < rows[j].Name })
	var buf bytes.Buffer
	buf.WriteString("\ufeff")
	cw := csv.NewWriter(&buf)
	cw.UseCRLF = true
	cw.Write([]string{"Name", " Phone ", "account"})
	for i, c := range rows {
		phone := c.Phone
		switch i % 3 {
		case 0:
			phone = strings.TrimPrefix(phone, "+")
		case 1:
			phone = strings.TrimPrefix(phone, "+86")
			phone = phone[:3] + " " + phone[3:7] + " " + phone[7:]
		}
		cw.Write([]string{" " + c.Name, phone, strings.ToUpper(c.Account[:1]) + c.Account[1:]})
		if i%17 == 0 {
			cw.Write([]string{c.Name, phone, c.Account}) // duplicates happen
		}
	}
	cw.Flush()
	return buf.Bytes(), cw.Error()
}
