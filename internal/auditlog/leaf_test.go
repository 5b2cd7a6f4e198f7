package auditlog

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/custos-dev/custos/internal/event"
	"github.com/custos-dev/custos/internal/store"
)

// TestPublicProofHidesTheActor checks the customer's view of an entry: it
// verifies on its own, shows the company, role and site, and holds the
// staff id nowhere, not even under base64.
func TestPublicProofHidesTheActor(t *testing.T) {
	e := publishedEnv(t, 20)
	for _, i := range []uint64{0, 7, 19} {
		full, err := e.log.Entry(context.Background(), i)
		if err != nil {
			t.Fatal(err)
		}
		if full.LeafVersion != LeafVersion2 || full.ActorSalt == nil {
			t.Fatalf("entry %d: version %d, actor salt %x; want a version 2 entry that opens its actor", i, full.LeafVersion, full.ActorSalt)
		}
		want, _ := event.Parse(full.Event)
		pub := roundTrip(t, full.Public())
		if err := pub.Verify(e.log.VerifierKey()); err != nil {
			t.Fatalf("entry %d: public proof: %v", i, err)
		}
		raw, _ := json.Marshal(pub)
		// The JSON and the committed bytes are searched.
		if strings.Contains(string(raw), want.Actor) || strings.Contains(string(pub.EventBytes), want.Actor) ||
			pub.ActorSalt != nil {
			t.Errorf("entry %d: the customer's proof names or opens the actor %q: %s", i, want.Actor, raw)
		}
		got, err := event.Parse(pub.EventBytes)
		if err != nil {
			t.Fatal(err)
		}
		if got.Org != want.Org || got.Role != want.Role || got.Site != want.Site || got.Customer != want.Customer ||
			!got.Time.Equal(want.Time) || got.Decision != want.Decision {
			t.Errorf("entry %d: public event %+v lost what the customer is shown of %+v", i, got, want)
		}
		if !strings.HasPrefix(got.Actor, actorPrefix) {
			t.Errorf("entry %d: public actor %q is not a commitment", i, got.Actor)
		}
	}
}

// TestFullProofOpensTheActor checks the auditor's view: the actor salt opens
// the commitment to the shown staff id, and naming anyone else fails.
func TestFullProofOpensTheActor(t *testing.T) {
	e := publishedEnv(t, 5)
	p, err := e.log.Entry(context.Background(), 3)
	if err != nil {
		t.Fatal(err)
	}
	p = roundTrip(t, p)
	if err := p.Verify(e.log.VerifierKey()); err != nil {
		t.Fatal(err)
	}
	ev, _ := event.Parse(p.Event)
	ev.Actor = "clerk-somebody-else"
	other := p
	other.Event = ev.Canonical()
	if err := other.Verify(e.log.VerifierKey()); err == nil {
		t.Error("a proof re-labelled with another actor verified")
	}
	wrongSalt := p
	wrongSalt.ActorSalt = make([]byte, SaltSize)
	if err := wrongSalt.Verify(e.log.VerifierKey()); err == nil {
		t.Error("a proof with another actor salt verified")
	}
	moved := p
	moved.EventBytes = []byte(strings.Replace(string(p.EventBytes), `"customer":"c-`, `"customer":"x-`, 1))
	if err := moved.Verify(e.log.VerifierKey()); err == nil {
		t.Error("a proof moved to another customer verified")
	}
}

// TestVersion1EntriesKeepVerifying checks that records written before actor
// commitments (16-byte salts) are integrated, proven and verified as
// before, and that the customer's view of one keeps its inclusion proof
// but drops the event that names the actor.
func TestVersion1EntriesKeepVerifying(t *testing.T) {
	e := newEnv(t)
	e.appendN(t, 0, 3)
	var recs []store.AuditRecord
	for i := 3; i < 6; i++ {
		ev := testEvent(i)
		salt := make([]byte, SaltSize)
		salt[0] = byte(i)
		recs = append(recs, store.AuditRecord{Time: ev.Time, Actor: ev.Actor, Customer: ev.Customer, Event: ev.Canonical(), Salt: salt})
	}
	if _, err := e.store.AppendAudit(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	e.appendN(t, 6, 3)
	e.waitPublished(t, 9)
	for i := uint64(0); i < 9; i++ {
		p, err := e.log.Entry(context.Background(), i)
		if err != nil {
			t.Fatal(err)
		}
		wantV := LeafVersion2
		if i >= 3 && i < 6 {
			wantV = LeafVersion1
		}
		if p.LeafVersion != wantV {
			t.Errorf("entry %d: leaf version %d, want %d", i, p.LeafVersion, wantV)
		}
		if err := roundTrip(t, p).Verify(e.log.VerifierKey()); err != nil {
			t.Errorf("entry %d: %v", i, err)
		}
		pub := roundTrip(t, p.Public())
		err = pub.Verify(e.log.VerifierKey())
		switch {
		case wantV == LeafVersion1 && !errors.Is(err, ErrNotPublic):
			t.Errorf("entry %d (version 1): public view: got %v, want ErrNotPublic", i, err)
		case wantV == LeafVersion1 && pub.EventBytes != nil:
			t.Errorf("entry %d (version 1): public view carries the event", i)
		case wantV == LeafVersion2 && err != nil:
			t.Errorf("entry %d: public view: %v", i, err)
		}
	}
	rep, err := Verify(context.Background(), e.store, e.dir, "")
	if err != nil || rep.ProblemCount != 0 {
		t.Fatalf("audit verify over mixed versions: %v, %+v", err, rep.Problems)
	}
}

// TestPublicEventRoundTrip checks that the public event is a function of
// the stored event and salt alone, so audit verify can recompute it.
func TestPublicEventRoundTrip(t *testing.T) {
	salt := make([]byte, SaltSize)
	for i := range 50 {
		ev := testEvent(i)
		a, err := PublicEvent(ev.Canonical(), salt)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := PublicEvent(ev.Canonical(), salt)
		if string(a) != string(b) {
			t.Fatalf("event %d: public event not deterministic", i)
		}
		back, err := event.Parse(a)
		if err != nil {
			t.Fatal(err)
		}
		ev.Actor = back.Actor
		if string(ev.Canonical()) != string(a) {
			t.Fatalf("event %d: public event changed more than the actor:\n%s\n%s", i, ev.Canonical(), a)
		}
	}
	// The in-place fast path gives exactly what re-encoding gives, also for
	// actors that need escaping (which take the slow path).
	for _, actor := range []string{"emp-1", "a\"b", "é", "x\\y", "", "<tag>"} {
		ev := testEvent(1)
		ev.Actor = actor
		got, err := PublicEvent(ev.Canonical(), salt)
		if err != nil {
			t.Fatal(err)
		}
		ev.Actor = ActorCommitment(salt, actor)
		if string(got) != string(ev.Canonical()) {
			t.Errorf("actor %q: public event\n%s\nwant\n%s", actor, got, ev.Canonical())
		}
	}
	if _, err := Leaf(make([]byte, 7), testEvent(0).Canonical()); !errors.Is(err, ErrLeafFormat) {
		t.Errorf("a salt of no known size: got %v, want ErrLeafFormat", err)
	}
}

func roundTrip(t *testing.T, p EntryProof) EntryProof {
	t.Helper()
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	var out EntryProof
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}
