package backup

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/custos-dev/custos/internal/event"
	"github.com/custos-dev/custos/internal/store"
)

// Erasure is one customer erased after a backup was taken, to be erased
// again in the restored store (restore --erasures).
type Erasure struct {
	Customer string
	At       time.Time
}

// ErasuresBy is the actor a restore's erasures are recorded as (in the
// tombstones; custos ids beginning with "custos" are reserved).
const ErasuresBy = "custos-restore"

// ReadErasures reads the erasures made after a backup from JSON lines, one
// object a line, in any of the forms the deployment leaves them in:
//
//   - an access event of the audit log, as the contract's JSON lines give
//     it: {"action":"subject.erase","decision":"allow","customer":…,"time":…};
//   - an audit search entry (GET /v1/audit/search, one of its "entries"):
//     {"index":…,"event":{…the access event…}};
//   - an OCSF API Activity record of the SIEM export: api.operation
//     "subject.erase", status "Success", the customer a resource;
//   - a plain tombstone: {"customer":…,"at":…}.
//
// Lines of other actions, and denied erasures, are skipped: the whole audit
// export can be given. Blank lines are skipped; anything else is an error
// naming its line.
func ReadErasures(r io.Reader) ([]Erasure, error) {
	var out []Erasure
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for line := 1; sc.Scan(); line++ {
		b := sc.Bytes()
		if len(b) == 0 || string(b) == "\r" {
			continue
		}
		e, ok, err := parseErasure(b)
		if err != nil {
			return nil, fmt.Errorf("erasures line %d: %w", line, err)
		}
		if ok {
			out = append(out, e)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("erasures: %w", err)
	}
	return out, nil
}

// erasureLine is the union of the forms ReadErasures reads.
type erasureLine struct {
	// Access event (or a tombstone, which has Customer and At only).
	Action   *string   `json:"action"`
	Decision string    `json:"decision"`
	Customer string    `json:"customer"`
	Time     any       `json:"time"` // RFC 3339 (event), Unix ms (OCSF)
	At       time.Time `json:"at"`
	// Audit search entry.
	Event *erasureLine `json:"event"`
	// OCSF API Activity.
	API *struct {
		Operation string `json:"operation"`
	} `json:"api"`
	Status    string `json:"status"`
	Resources []struct {
		UID  string `json:"uid"`
		Type string `json:"type"`
	} `json:"resources"`
}

func parseErasure(b []byte) (Erasure, bool, error) {
	var l erasureLine
	if err := json.Unmarshal(b, &l); err != nil {
		return Erasure{}, false, errors.New("not a JSON object (an audit event, an OCSF record or {\"customer\":…,\"at\":…})")
	}
	if l.Event != nil {
		l = *l.Event
	}
	e := Erasure{Customer: l.Customer, At: l.At}
	switch {
	case l.API != nil: // OCSF: the time is in the class header, in ms
		if l.API.Operation != event.ActionSubjectErase || l.Status != "Success" {
			return Erasure{}, false, nil
		}
		if ms, ok := l.Time.(float64); ok {
			e.At = time.UnixMilli(int64(ms)).UTC()
		}
		for _, r := range l.Resources {
			if r.Type == "customer" {
				e.Customer = r.UID
			}
		}
	case l.Action != nil:
		if *l.Action != event.ActionSubjectErase || l.Decision != event.Allow {
			return Erasure{}, false, nil
		}
		if s, ok := l.Time.(string); ok {
			e.At, _ = time.Parse(time.RFC3339Nano, s)
		}
	}
	if !store.ValidID(e.Customer) {
		return Erasure{}, false, fmt.Errorf("customer %q is not a customer id", e.Customer)
	}
	return e, true, nil
}

// ReadErasuresFile is ReadErasures of the file at path ("" reads none).
func ReadErasuresFile(path string) ([]Erasure, error) {
	if path == "" {
		return nil, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ReadErasures(f)
}

// ApplyErasures erases es in the restored store st, as the gateway's
// erasure does (the record, its record key and blind indexes destroyed, a
// tombstone kept), recorded as by ErasuresBy. A customer the store does not
// hold (created after the backup) gets the tombstone alone, so that a later
// import or CRM write does not bring them back. It returns how many records
// it erased.
func ApplyErasures(ctx context.Context, st store.Store, es []Erasure) (int, error) {
	n := 0
	for _, e := range es {
		reason := "erased at " + e.At.UTC().Format(time.RFC3339) + ", after the backup this store was restored from"
		err := st.EraseCustomer(ctx, e.Customer, ErasuresBy, reason, e.At)
		if errors.Is(err, store.ErrNotFound) {
			err = st.KeepTombstone(ctx, e.Customer, ErasuresBy, reason, e.At)
			if err != nil {
				return n, fmt.Errorf("keep the tombstone of %s: %w", e.Customer, err)
			}
			continue
		}
		if err != nil {
			return n, fmt.Errorf("erase %s: %w", e.Customer, err)
		}
		n++
	}
	return n, nil
}
