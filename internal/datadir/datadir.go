// Package datadir names the files of a custos data directory. It is the one
// place that knows them; everything else asks a Dir for a path.
//
// A data directory holds:
//
//	custos.db        the embedded store (SQLite)
//	custos-derived.db what the store rebuilds from the audit log when lost:
//	                 the audit search index, the quota counts
//	master.key       the master key that wraps the store's keys (0600)
//	log-signing.key  the audit log's checkpoint signing key (0600)
//	log-keys         the audit log's key history (hand-overs after rotations)
//	log/             the audit log's tiles (derived from the store)
//	outbox.jsonl     messages the default notifier would have sent
//	access-sets.bin  the leak tracer's access-sets snapshot (a cache)
//	policies/        the active Cedar policies
//
// On PostgreSQL the directory still holds the keys, the log and the rest;
// only custos.db and custos-derived.db are absent.
package datadir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Names of the files and directories inside a data directory.
const (
	DBFile            = "custos.db"
	MasterKeyFile     = "master.key"
	LogSigningKeyFile = "log-signing.key"
	LogKeysFile       = "log-keys"
	LogDir            = "log"
	OutboxFile        = "outbox.jsonl"
	AccessSetsFile    = "access-sets.bin"
	PoliciesDir       = "policies"
	// DemoMarker marks a directory that custos demo made, so that a
	// later demo may wipe it.
	DemoMarker = ".custos-demo"
)

// Default is the data directory commands use when none is given.
const Default = "./custos-data"

// Dir is a data directory: the path of its root.
type Dir string

// Path returns the directory's own path.
func (d Dir) Path() string { return string(d) }

// DB returns the embedded store's path.
func (d Dir) DB() string { return d.join(DBFile) }

// MasterKey returns the master key file's path.
func (d Dir) MasterKey() string { return d.join(MasterKeyFile) }

// LogSigningKey returns the audit log's signing key file's path.
func (d Dir) LogSigningKey() string { return d.join(LogSigningKeyFile) }

// LogKeys returns the audit log's key history file's path.
func (d Dir) LogKeys() string { return d.join(LogKeysFile) }

// Log returns the directory of the audit log's tiles.
func (d Dir) Log() string { return d.join(LogDir) }

// Outbox returns the default notifier's outbox file's path.
func (d Dir) Outbox() string { return d.join(OutboxFile) }

// AccessSets returns the leak tracer's snapshot file's path.
func (d Dir) AccessSets() string { return d.join(AccessSetsFile) }

// Policies returns the policy directory's path.
func (d Dir) Policies() string { return d.join(PoliciesDir) }

// Demo returns the demo marker file's path.
func (d Dir) Demo() string { return d.join(DemoMarker) }

func (d Dir) join(name string) string { return filepath.Join(string(d), name) }

// HasStore returns an error, suggesting the fix, unless d holds an
// embedded store: a mistyped directory must not be silently created empty.
func (d Dir) HasStore() error {
	if _, err := os.Stat(d.DB()); err != nil {
		return fmt.Errorf("no custos store in %s (give --data DIR or --db URL; custos import or serve creates one)", d)
	}
	return nil
}

// PrepareDemo makes d ready for a demo: created, or wiped when an earlier
// demo made it (it holds the demo marker); any other non-empty directory
// is refused, so that a demo never wipes real data.
func (d Dir) PrepareDemo() error {
	entries, err := os.ReadDir(d.Path())
	if errors.Is(err, os.ErrNotExist) {
		return os.MkdirAll(d.Path(), 0o700)
	}
	if err != nil {
		return err
	}
	if len(entries) > 0 {
		if _, err := os.Stat(d.Demo()); err != nil {
			return fmt.Errorf("%s is not empty and not an earlier demo: pass --data with a new directory", d)
		}
		if err := os.RemoveAll(d.Path()); err != nil {
			return err
		}
		if err := os.MkdirAll(d.Path(), 0o700); err != nil {
			return err
		}
	}
	return os.WriteFile(d.Demo(), nil, 0o600)
}
