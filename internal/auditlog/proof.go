package auditlog

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	f_log "github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/tessera/client"
	"golang.org/x/mod/sumdb/note"

	"github.com/custos-dev/custos/internal/event"
	"github.com/custos-dev/custos/internal/store"
)

// EntryProof is one audit record with everything needed to check it against
// the public log: Leaf is the log entry's exact bytes, a version byte and
// SHA-256(Salt || EventBytes); Proof is the RFC 6962 inclusion proof of
// SHA-256(0x00 || Leaf) at Index in the tree of TreeSize entries whose root
// Checkpoint (a signed note) commits to. It is the body of
// GET /v1/audit/entries/{index}. []byte fields encode as base64.
//
// In a version 2 entry (see leaf.go) EventBytes is the public event, whose
// actor is a salted commitment; Event is the whole event and ActorSalt opens
// the commitment. A customer's view (Public) carries only the public event.
type EntryProof struct {
	Index uint64 `json:"index"`
	// Event is the access event as JSON (an encoder that escapes HTML may
	// change its bytes, so EventBytes has the committed ones exactly).
	Event json.RawMessage `json:"event,omitempty"`
	// EventBytes are the bytes the leaf commits to after the salt: the
	// event's canonical bytes (version 1) or the public event's (version 2).
	EventBytes []byte `json:"event_bytes,omitempty"`
	Salt       []byte `json:"salt,omitempty"`
	// ActorSalt opens the actor commitment in EventBytes to Event's actor
	// (version 2, never in a customer's view).
	ActorSalt []byte `json:"actor_salt,omitempty"`
	Leaf      []byte `json:"leaf"`
	// LeafVersion is the leaf format (see leaf.go).
	LeafVersion int `json:"leaf_version"`
	// TreeSize is the checkpoint's tree size; Proof is against it.
	TreeSize   uint64   `json:"tree_size"`
	Proof      [][]byte `json:"proof"`
	Checkpoint string   `json:"checkpoint"`
	// Pending is set (and Proof, TreeSize, Checkpoint empty) when no
	// published checkpoint covered the entry yet (ByCustomer only).
	Pending bool `json:"pending,omitempty"`
}

// ErrNotPublic reports an entry that cannot be shown without naming its
// actor (version 1): Public drops its event, and Verify can then check only
// that its leaf is in the log.
var ErrNotPublic = errors.New("entry written before actor commitments; its event names the actor")

// Public returns the entry as its customer may see it: the public event and
// the leaf salt, never the actor or the salt that opens its commitment. A
// version 1 entry keeps only its leaf and inclusion proof.
func (p EntryProof) Public() EntryProof {
	p.ActorSalt = nil
	if p.LeafVersion != LeafVersion2 {
		p.Event, p.EventBytes, p.Salt = nil, nil, nil
		return p
	}
	p.Event = json.RawMessage(p.EventBytes)
	return p
}

// Verify checks p on its own, as an outside auditor would with the log's
// verifier key: the leaf commits to the event and salt (and, with the actor
// salt, the actor commitment opens to the event's actor), the checkpoint is
// signed by the key, and the inclusion proof leads from the leaf to the
// checkpoint's root. A version 1 entry without its event (a customer's view)
// is checked as far as the log goes and then reported with ErrNotPublic.
func (p EntryProof) Verify(verifierKey string) error {
	if p.Pending {
		return fmt.Errorf("entry %d: %w", p.Index, ErrPending)
	}
	hidden := p.LeafVersion == LeafVersion1 && p.EventBytes == nil
	if !hidden {
		if err := p.verifyLeaf(); err != nil {
			return fmt.Errorf("entry %d: %w", p.Index, err)
		}
	}
	v, err := note.NewVerifier(verifierKey)
	if err != nil {
		return fmt.Errorf("verifier key: %w", err)
	}
	cp, _, _, err := f_log.ParseCheckpoint([]byte(p.Checkpoint), v.Name(), v)
	if err != nil {
		return fmt.Errorf("entry %d: checkpoint: %w", p.Index, err)
	}
	if cp.Size != p.TreeSize {
		return fmt.Errorf("entry %d: checkpoint size %d, proof for %d", p.Index, cp.Size, p.TreeSize)
	}
	lh := rfc6962.DefaultHasher.HashLeaf(p.Leaf)
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, p.Index, cp.Size, lh, p.Proof, cp.Hash); err != nil {
		return fmt.Errorf("entry %d: inclusion proof: %w", p.Index, err)
	}
	if hidden {
		return fmt.Errorf("entry %d: in the log, but %w", p.Index, ErrNotPublic)
	}
	return nil
}

// verifyLeaf checks that Leaf commits to EventBytes under Salt and that
// Event is the committed event (through the actor commitment in version 2).
func (p EntryProof) verifyLeaf() error {
	if p.LeafVersion != LeafVersion1 && p.LeafVersion != LeafVersion2 {
		return fmt.Errorf("leaf version %d: %w", p.LeafVersion, ErrLeafFormat)
	}
	if len(p.Leaf) != LeafSize || int(p.Leaf[0]) != p.LeafVersion ||
		!bytes.Equal(p.Leaf, leafOf(byte(p.LeafVersion), p.Salt, p.EventBytes)) {
		return errors.New("leaf does not commit to the event and salt")
	}
	if len(p.Event) == 0 {
		return nil
	}
	shown, err := event.Parse(p.Event)
	if err != nil {
		return fmt.Errorf("event: %w", err)
	}
	if p.LeafVersion == LeafVersion2 && p.ActorSalt != nil {
		shown.Actor = ActorCommitment(p.ActorSalt, shown.Actor)
	}
	if !bytes.Equal(shown.Canonical(), p.EventBytes) {
		return errors.New("the event shown is not the committed one")
	}
	return nil
}

// Checkpoint returns the latest signed checkpoint (C2SP tlog-checkpoint,
// signed-note text): the published one, with any witness cosignatures, or
// the one just signed if it is not on disk yet.
func (l *Log) Checkpoint(ctx context.Context) ([]byte, error) {
	l.cpMu.Lock()
	n, size := l.cpNote, l.cpSize
	l.cpMu.Unlock()
	if pub, err := l.reader.ReadCheckpoint(ctx); err == nil {
		var cp f_log.Checkpoint
		if _, err := cp.Unmarshal(pub); err == nil && (n == nil || cp.Size >= size) {
			return pub, nil
		}
	}
	if n == nil {
		return nil, fmt.Errorf("audit checkpoint: %w", ErrPending)
	}
	return bytes.Clone(n), nil
}

// waitCheckpoint returns the latest checkpoint, waiting up to PendingWait
// (or ctx) for one of at least size entries. ok reports whether the
// returned checkpoint covers size.
func (l *Log) waitCheckpoint(ctx context.Context, size uint64) (n []byte, cpSize uint64, ok bool) {
	timer := time.NewTimer(l.opts.PendingWait)
	defer timer.Stop()
	for {
		l.cpMu.Lock()
		n, cpSize, ch := l.cpNote, l.cpSize, l.cpChanged
		l.cpMu.Unlock()
		if n != nil && cpSize >= size {
			return n, cpSize, true
		}
		select {
		case <-ch:
		case <-timer.C:
			return n, cpSize, false
		case <-ctx.Done():
			return n, cpSize, false
		}
	}
}

// Entry returns record index with its inclusion proof against the latest
// checkpoint. If no checkpoint covers it within PendingWait, it returns
// ErrPending; an index never committed gives store.ErrNotFound.
func (l *Log) Entry(ctx context.Context, index uint64) (EntryProof, error) {
	recs, err := l.st.AuditRange(ctx, index, index+1)
	if err != nil {
		return EntryProof{}, fmt.Errorf("audit entry %d: %w", index, err)
	}
	if len(recs) == 0 {
		return EntryProof{}, fmt.Errorf("audit entry %d: %w", index, store.ErrNotFound)
	}
	n, size, ok := l.waitCheckpoint(ctx, index+1)
	if !ok {
		return EntryProof{}, fmt.Errorf("audit entry %d: %w", index, ErrPending)
	}
	pb, err := client.NewProofBuilder(ctx, size, l.reader.ReadTile)
	if err != nil {
		return EntryProof{}, fmt.Errorf("audit entry %d: %w", index, err)
	}
	return l.entryProof(ctx, pb, recs[0], n, size)
}

// ByCustomer returns every audit record about customer, oldest first, each
// with its inclusion proof against the latest checkpoint. Records that no
// checkpoint covers within PendingWait are returned with Pending set.
func (l *Log) ByCustomer(ctx context.Context, customer string) ([]EntryProof, error) {
	recs, err := l.st.AuditByCustomer(ctx, customer)
	if err != nil {
		return nil, fmt.Errorf("audit by customer: %w", err)
	}
	ps, err := l.Prove(ctx, recs)
	if err != nil {
		return nil, fmt.Errorf("audit by customer: %w", err)
	}
	return ps, nil
}

// Prove returns recs (in index order) each with its inclusion proof, all
// against one checkpoint: the latest, once it covers the last record or
// PendingWait has passed. Records it does not cover are marked Pending.
func (l *Log) Prove(ctx context.Context, recs []store.AuditRecord) ([]EntryProof, error) {
	out := make([]EntryProof, 0, len(recs))
	if len(recs) == 0 {
		return out, nil
	}
	var last uint64
	for _, r := range recs {
		last = max(last, r.Index)
	}
	n, size, _ := l.waitCheckpoint(ctx, last+1)
	var pb *client.ProofBuilder
	if n != nil {
		var err error
		if pb, err = client.NewProofBuilder(ctx, size, l.reader.ReadTile); err != nil {
			return nil, err
		}
	}
	for _, r := range recs {
		if n == nil || r.Index >= size {
			p, err := pendingProof(r)
			if err != nil {
				return nil, err
			}
			out = append(out, p)
			continue
		}
		p, err := l.entryProof(ctx, pb, r, n, size)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

func pendingProof(r store.AuditRecord) (EntryProof, error) {
	leafSalt, body, v, err := committed(r.Salt, r.Event)
	if err != nil {
		return EntryProof{}, fmt.Errorf("audit entry %d: %w", r.Index, err)
	}
	p := EntryProof{
		Index:       r.Index,
		Event:       json.RawMessage(r.Event),
		EventBytes:  body,
		Salt:        leafSalt,
		Leaf:        leafOf(byte(v), leafSalt, body),
		LeafVersion: v,
		Proof:       [][]byte{},
		Pending:     true,
	}
	if v == LeafVersion2 {
		p.ActorSalt = r.Salt[SaltSize:]
	}
	return p, nil
}

func (l *Log) entryProof(ctx context.Context, pb *client.ProofBuilder, r store.AuditRecord, n []byte, size uint64) (EntryProof, error) {
	if !json.Valid(r.Event) {
		return EntryProof{}, errors.New("audit entry: stored event is not valid JSON")
	}
	hashes, err := pb.InclusionProof(ctx, r.Index)
	if err != nil {
		return EntryProof{}, fmt.Errorf("inclusion proof for %d in %d: %w", r.Index, size, err)
	}
	p, err := pendingProof(r)
	if err != nil {
		return EntryProof{}, err
	}
	p.Pending = false
	p.TreeSize = size
	p.Proof = hashes
	p.Checkpoint = string(n)
	return p, nil
}
