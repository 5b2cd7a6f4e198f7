package auditlog

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"testing"
)

// TestTrustDocument checks that /log/custos-log.json names the origin,
// the current key, the witnesses and the hand-overs, and that
// ParseCheckpoint follows the hand-overs from the retired key.
func TestTrustDocument(t *testing.T) {
	e := publishedEnv(t, 10)
	oldV := e.log.VerifierKey()
	get := func() TrustDocument {
		t.Helper()
		rec := httptest.NewRecorder()
		e.log.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/log/"+TrustPath, nil))
		if rec.Code != 200 || rec.Header().Get("Content-Type") != "application/json" {
			t.Fatalf("GET %s: %d %s", TrustPath, rec.Code, rec.Body)
		}
		var doc TrustDocument
		if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
			t.Fatal(err)
		}
		return doc
	}
	doc := get()
	if doc.Format != TrustFormat || doc.Origin != DefaultOrigin || doc.VerifierKey != oldV || len(doc.KeyHistory) != 0 || doc.Witnesses == nil {
		t.Fatalf("trust document: %+v", doc)
	}
	// Rotate (the log must be closed), reopen, check again.
	e.log.Close(context.Background())
	newV, err := RotateKey(context.Background(), e.store, e.dir)
	if err != nil {
		t.Fatal(err)
	}
	e.open(t)
	e.appendN(t, 10, 5)
	e.waitPublished(t, 15)
	doc = get()
	if doc.VerifierKey != newV || len(doc.KeyHistory) != 1 || doc.KeyHistory[0].Old != oldV {
		t.Fatalf("after rotation: %+v", doc)
	}
	cp, err := e.log.Checkpoint(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	c, signer, err := ParseCheckpoint(cp, doc.Origin, oldV, doc.KeyHistory)
	if err != nil || signer != newV || c.Size != 15 {
		t.Fatalf("ParseCheckpoint trusting the retired key: %v, %s, %v", c, signer, err)
	}
	if _, _, err := ParseCheckpoint(cp, doc.Origin, oldV, nil); err == nil {
		t.Fatal("ParseCheckpoint accepted the new key without the hand-over")
	}
}
