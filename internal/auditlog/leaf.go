package auditlog

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/custos-dev/custos/internal/event"
)

// Leaf formats.
//
// Each log entry is LeafSize bytes: one version byte followed by a SHA-256
// digest. Two versions exist; the record's stored salt says which:
//
//   - Version 1 (a SaltSize-byte salt, entries written before 2026-11-29):
//     SHA-256(salt || event), event being the canonical bytes
//     (event.Event.Canonical). Whoever checks the leaf must see the whole
//     event, staff id included.
//   - Version 2 (a RecordSaltSize-byte salt: the leaf salt followed by an
//     actor salt): SHA-256(salt || public), public being the canonical bytes
//     of the event with its actor replaced by ActorCommitment(actorSalt,
//     actor). A customer checks the leaf from the public bytes alone and
//     learns the company, role and site of each access but never who it
//     was; the privacy role and auditors also get the actor salt and check
//     that the commitment opens to the staff id they are shown.
//
// No entry holds personal data: without the salt, which stays in the store,
// the hash cannot be tested against guessed events, and without the actor
// salt the commitment cannot be tested against guessed staff ids.
const (
	LeafVersion1 = 0x01
	LeafVersion2 = 0x02
	// LeafVersion is the version new records are written in.
	LeafVersion = LeafVersion2
	LeafSize    = 1 + sha256.Size
	// SaltSize is the size of the salt the leaf hash starts with.
	SaltSize = 16
	// RecordSaltSize is the size of a version 2 record's stored salt: the
	// leaf salt followed by the actor salt.
	RecordSaltSize = 2 * SaltSize
)

// actorPrefix starts every actor commitment, so that a public event can be
// told from one that names its actor.
const actorPrefix = "commit:"

// ErrLeafFormat reports a stored salt of no known leaf version.
var ErrLeafFormat = errors.New("unknown leaf format")

// LeafVersionOf returns the leaf version that a record with this stored
// salt is committed in, or 0 if it is of no known version.
func LeafVersionOf(salt []byte) int {
	switch len(salt) {
	case SaltSize:
		return LeafVersion1
	case RecordSaltSize:
		return LeafVersion2
	}
	return 0
}

// ActorCommitment is the string that stands for actor in a version 2 leaf's
// public event: "commit:" and the unpadded base64url SHA-256 of the
// domain-separated actor salt and actor.
func ActorCommitment(actorSalt []byte, actor string) string {
	h := sha256.New()
	h.Write([]byte("custos actor v1\x00"))
	h.Write(actorSalt)
	h.Write([]byte(actor))
	return actorPrefix + base64.RawURLEncoding.EncodeToString(h.Sum(nil))
}

// PublicEvent returns the canonical bytes of the event in canonical with its
// actor replaced by its commitment under actorSalt.
func PublicEvent(canonical, actorSalt []byte) ([]byte, error) {
	// Canonical bytes start {"time":"…","actor":"…": when the actor needs
	// no escaping, replacing its value in place gives exactly what
	// re-encoding would, at a fraction of the cost (the integrator does
	// this for every record).
	const key = `","actor":"`
	if i := bytes.Index(canonical, []byte(key)); i > 0 && bytes.HasPrefix(canonical, []byte(`{"time":"`)) {
		start := i + len(key)
		if n := bytes.IndexByte(canonical[start:], '"'); n >= 0 && bytes.IndexByte(canonical[start:start+n], '\\') < 0 {
			actor := string(canonical[start : start+n])
			c := ActorCommitment(actorSalt, actor)
			out := make([]byte, 0, len(canonical)-n+len(c))
			out = append(append(append(out, canonical[:start]...), c...), canonical[start+n:]...)
			return out, nil
		}
	}
	ev, err := event.Parse(canonical)
	if err != nil {
		return nil, fmt.Errorf("public event: %w", err)
	}
	ev.Actor = ActorCommitment(actorSalt, ev.Actor)
	return ev.Canonical(), nil
}

// committed returns what the leaf of a record hashes: the leaf salt and the
// bytes after it (the event for version 1, the public event for version 2).
func committed(salt, canonical []byte) (leafSalt, body []byte, version int, err error) {
	switch v := LeafVersionOf(salt); v {
	case LeafVersion1:
		return salt, canonical, v, nil
	case LeafVersion2:
		pub, err := PublicEvent(canonical, salt[SaltSize:])
		return salt[:SaltSize], pub, v, err
	}
	return nil, nil, 0, fmt.Errorf("salt of %d bytes: %w", len(salt), ErrLeafFormat)
}

// Leaf returns the log entry of a record: its event's canonical bytes under
// its stored salt, in the leaf version the salt's size names.
func Leaf(salt, canonical []byte) ([]byte, error) {
	leafSalt, body, v, err := committed(salt, canonical)
	if err != nil {
		return nil, err
	}
	return leafOf(byte(v), leafSalt, body), nil
}

// leafOf hashes a leaf of version v from its salt and committed bytes.
func leafOf(v byte, salt, body []byte) []byte {
	h := sha256.New()
	h.Write(salt)
	h.Write(body)
	out := make([]byte, 1, LeafSize)
	out[0] = v
	return h.Sum(out)
}

// newSalt returns a fresh random salt for a version 2 record.
func newSalt() ([]byte, error) {
	s := make([]byte, RecordSaltSize)
	if _, err := rand.Read(s); err != nil {
		return nil, fmt.Errorf("audit salt: %w", err)
	}
	return s, nil
}
