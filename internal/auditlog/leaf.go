package auditlog

import (
	"crypto/rand"
	"crypto/sha256"
	"fmt"
)

// Leaf format.
//
// Each log entry is LeafSize bytes: one version byte (LeafVersion) followed by
// SHA-256(salt || event), where salt is the record's random salt (SaltSize
// bytes) and event is the event's canonical bytes (event.Event.Canonical).
// The entry holds no personal data: without the salt, which stays in the
// store, the hash cannot be tested against guessed events.
const (
	LeafVersion = 0x01
	LeafSize    = 1 + sha256.Size
	SaltSize    = 16
)

// Leaf returns the log entry that commits to an event's canonical bytes under
// salt.
func Leaf(salt, canonical []byte) []byte {
	h := sha256.New()
	h.Write(salt)
	h.Write(canonical)
	out := make([]byte, 1, LeafSize)
	out[0] = LeafVersion
	return h.Sum(out)
}

// newSalt returns a fresh random salt.
func newSalt() ([]byte, error) {
	s := make([]byte, SaltSize)
	if _, err := rand.Read(s); err != nil {
		return nil, fmt.Errorf("audit salt: %w", err)
	}
	return s, nil
}
