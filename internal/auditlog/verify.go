package auditlog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/tessera/api"
	"github.com/transparency-dev/tessera/api/layout"
	"github.com/transparency-dev/tessera/client"
	"golang.org/x/mod/sumdb/note"

	"github.com/custos-dev/custos/internal/event"
	"github.com/custos-dev/custos/internal/store"
)

// maxProblems caps the problems a Report lists (the count goes on).
const maxProblems = 100

// verifyChunk is how many records Verify reads from the store at once.
const verifyChunk = 8192

// Report is what Verify checked and found.
type Report struct {
	// Records is the number of audit records in the store.
	Records uint64
	// LogSize is the tree size of the published checkpoint (log/checkpoint).
	LogSize uint64
	// TreeSize is the largest size any checkpoint commits to; entry
	// bundles and tiles were checked at this size.
	TreeSize uint64
	// Root is the recomputed root hash at TreeSize.
	Root []byte
	// Checkpoints is the number of stored checkpoints checked.
	Checkpoints int
	// Bundles and Tiles count the resources compared.
	Bundles, Tiles int
	// Pending counts records committed after the last checkpoint (not yet
	// covered by the log; not an error).
	Pending uint64
	// Warnings are findings that are not failures.
	Warnings []string
	// Problems lists what is wrong (at most maxProblems); ProblemCount
	// counts them all.
	Problems     []Problem
	ProblemCount int
}

// Problem is one failed check.
type Problem struct {
	// Index is the audit record index concerned, or -1.
	Index int64
	// Path is the log resource concerned (relative to the log root, as
	// served under /log/), or "".
	Path string
	// What says what is wrong.
	What string
}

func (p Problem) String() string {
	var b strings.Builder
	if p.Index >= 0 {
		fmt.Fprintf(&b, "entry %d: ", p.Index)
	}
	if p.Path != "" {
		fmt.Fprintf(&b, "%s: ", p.Path)
	}
	b.WriteString(p.What)
	return b.String()
}

// VerifyError is returned by Verify when checks fail. It wraps ErrTampered.
type VerifyError struct {
	Problems []Problem
	Count    int
}

func (e *VerifyError) Error() string {
	if len(e.Problems) == 0 {
		return ErrTampered.Error()
	}
	more := ""
	if e.Count > 1 {
		more = fmt.Sprintf(" (and %d more problems)", e.Count-1)
	}
	return fmt.Sprintf("%v: %s%s", ErrTampered, e.Problems[0], more)
}

// Unwrap returns ErrTampered.
func (e *VerifyError) Unwrap() error { return ErrTampered }

func (r *Report) problem(index int64, path, format string, args ...any) {
	r.ProblemCount++
	if len(r.Problems) < maxProblems {
		r.Problems = append(r.Problems, Problem{Index: index, Path: path, What: fmt.Sprintf(format, args...)})
	}
}

// namedCheckpoint is a verified checkpoint and where it came from.
type namedCheckpoint struct {
	name string
	size uint64
	root []byte
}

// Verify recomputes the audit log from the store and checks it against the
// tiled log in dir/log and against every checkpoint ever issued:
//
//   - every stored checkpoint and the published one carry a valid
//     signature by verifierKey (dir's key if empty; it must also be the key
//     recorded in the store when the log was created);
//   - the store holds a record for every index up to the largest
//     checkpoint; each record's leaf, recomputed from its event and salt,
//     equals the log entry in the entry bundle;
//   - every tile hash equals the one recomputed from the records;
//   - the root recomputed at each checkpoint's size equals its root;
//   - the published checkpoint is not older than any issued one
//     (rollback of the log directory) and is among those recorded.
//
// It returns a *VerifyError (wrapping ErrTampered) listing the problems when
// a check fails, and other errors when it cannot run (unreadable store).
// Verify only reads; it may run beside a live server (records committed
// after the last checkpoint are counted as Pending).
func Verify(ctx context.Context, st store.Store, dir, verifierKey string) (Report, error) {
	return VerifyWith(ctx, st, dir, VerifyOptions{Key: verifierKey})
}

// VerifyOptions configure VerifyWith.
type VerifyOptions struct {
	// Key is the verifier key; the data directory's if empty.
	Key string
	// Checkpoints are more signed checkpoints to hold the log to, kept
	// outside custos (an ExportFile, a witness, an auditor's copy). They
	// catch a rollback of both the store and the log directory to an
	// older, self-consistent copy.
	Checkpoints [][]byte
}

// VerifyWith is Verify with extra checkpoints kept outside the store.
func VerifyWith(ctx context.Context, st store.Store, dir string, o VerifyOptions) (Report, error) {
	var rep Report
	verifierKey := o.Key
	logDir := filepath.Join(dir, LogDir)
	if verifierKey == "" {
		k, err := VerifierKey(dir)
		if errors.Is(err, ErrNoKey) {
			// The key is kept in the store (Options.KeyWrapper): hold
			// the log to the verifier key recorded there.
			if rec, rerr := st.Meta(ctx, metaVerifierKey); rerr == nil {
				k, err = string(rec), nil
			}
		}
		if err != nil {
			return rep, err
		}
		verifierKey = k
	}
	v, err := note.NewVerifier(verifierKey)
	if err != nil {
		return rep, fmt.Errorf("verifier key: %w", err)
	}
	origin := v.Name()
	// After rotations (dir/KeyHistoryFile), older checkpoints carry
	// retired keys; each is accepted only up to its hand-over.
	eras, err := keyEras(ctx, st, dir, origin, verifierKey)
	if err != nil {
		rep.problem(-1, KeyHistoryFile, "%v", err)
		eras = []keyEra{{vkey: verifierKey, v: v, to: math.MaxUint64}}
	}
	current := eras[len(eras)-1].vkey
	switch recorded, err := st.Meta(ctx, metaVerifierKey); {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return rep, fmt.Errorf("read recorded verifier key: %w", err)
	case string(recorded) != current:
		rep.problem(-1, "", "verifier key %s is not the key recorded in the store when the log was created or last rotated (%s)", current, recorded)
	}

	pubRaw, err := os.ReadFile(filepath.Join(logDir, layout.CheckpointPath))
	pubErr := err
	// The published checkpoint is read before the stored ones: the log
	// saves a checkpoint in the store before publishing it, so on a live
	// server the published one is then always among those read.
	stored, err := st.Checkpoints(ctx)
	if err != nil {
		return rep, fmt.Errorf("read checkpoints: %w", err)
	}
	rep.Checkpoints = len(stored)
	var cps []namedCheckpoint
	var maxIssued uint64
	storedNotes := make(map[string]bool, len(stored))
	for i, c := range stored {
		name := fmt.Sprintf("stored checkpoint #%d (size %d)", i+1, c.Size)
		cp, err := parseByEra(c.Note, origin, eras)
		if err != nil {
			rep.problem(-1, "", "%s: does not verify: %v", name, err)
			continue
		}
		if cp.Size != c.Size {
			rep.problem(-1, "", "%s: note says size %d", name, cp.Size)
		}
		storedNotes[noteBody(c.Note)] = true
		cps = append(cps, namedCheckpoint{name, cp.Size, cp.Hash})
		maxIssued = max(maxIssued, cp.Size)
	}
	for i, c := range o.Checkpoints {
		cp, err := parseByEra(c, origin, eras)
		if err != nil {
			rep.problem(-1, "", "external checkpoint #%d does not verify: %v", i+1, err)
			continue
		}
		cps = append(cps, namedCheckpoint{fmt.Sprintf("external checkpoint #%d (size %d)", i+1, cp.Size), cp.Size, cp.Hash})
		maxIssued = max(maxIssued, cp.Size)
	}
	switch err := pubErr; {
	case errors.Is(err, fs.ErrNotExist):
		if len(stored) > 0 {
			rep.problem(-1, layout.CheckpointPath, "missing, but the log has issued %d checkpoints", len(stored))
		}
	case err != nil:
		return rep, fmt.Errorf("read published checkpoint: %w", err)
	default:
		cp, err := parseByEra(pubRaw, origin, eras)
		if err != nil {
			rep.problem(-1, layout.CheckpointPath, "does not verify: %v", err)
			break
		}
		rep.LogSize = cp.Size
		cps = append(cps, namedCheckpoint{"published checkpoint", cp.Size, cp.Hash})
		if !storedNotes[noteBody(pubRaw)] {
			rep.problem(-1, layout.CheckpointPath, "published checkpoint (size %d) is not among the checkpoints recorded in the store", cp.Size)
		}
	}
	for _, c := range cps {
		rep.TreeSize = max(rep.TreeSize, c.size)
	}
	T := rep.TreeSize

	n, err := st.AuditSize(ctx)
	if err != nil {
		return rep, fmt.Errorf("store size: %w", err)
	}
	rep.Records = n
	if T > n {
		rep.problem(-1, "", "checkpoints commit to %d entries but the store has only %d records: records deleted or the store rolled back", T, n)
	}
	if n > T {
		rep.Pending = n - T
	}

	// Checkpoint sizes in order, to compare roots while streaming.
	slices.SortFunc(cps, func(a, b namedCheckpoint) int { return cmpU64(a.size, b.size) })
	nextCP := 0
	checkRoots := func(size uint64, root []byte) {
		for nextCP < len(cps) && cps[nextCP].size == size {
			if !bytes.Equal(cps[nextCP].root, root) {
				rep.problem(-1, "", "%s: root %x differs from the root %x recomputed from the store's records", cps[nextCP].name, cps[nextCP].root, root)
			}
			nextCP++
		}
	}
	checkRoots(0, rfc6962.DefaultHasher.EmptyRoot())

	fetch := client.FileFetcher{Root: logDir}
	rng := (&compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}).NewEmptyRange(0)
	var (
		level8 [][]byte // roots of full 256-leaf subtrees, for the tiles above
		leaves [][]byte // leaf hashes of the current bundle
	)
	var cur *api.EntryBundle
	var curPath string
	end := max(n, T)
	for from := uint64(0); from < end; from += verifyChunk {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		to := min(from+verifyChunk, end)
		recs, err := st.AuditRange(ctx, from, to)
		if err != nil {
			return rep, fmt.Errorf("read records [%d, %d): %w", from, to, err)
		}
		ri := 0
		for i := from; i < to; i++ {
			var rec *store.AuditRecord
			if ri < len(recs) && recs[ri].Index == i {
				rec = &recs[ri]
				ri++
			}
			inLog := i < T
			b := i / layout.EntryBundleWidth
			if inLog && i%layout.EntryBundleWidth == 0 {
				p := layout.PartialTileSize(0, b, T)
				curPath = layout.EntriesPath(b, p)
				cur = nil
				raw, err := fetch.ReadEntryBundle(ctx, b, p)
				if err != nil {
					rep.problem(int64(i), curPath, "entry bundle missing or unreadable: %v", err)
				} else {
					var eb api.EntryBundle
					if err := eb.UnmarshalText(raw); err != nil {
						rep.problem(int64(i), curPath, "entry bundle malformed: %v", err)
					} else {
						want := int(p)
						if p == 0 {
							want = layout.EntryBundleWidth
						}
						if len(eb.Entries) < want {
							rep.problem(int64(i), curPath, "entry bundle has %d entries, want %d", len(eb.Entries), want)
						}
						cur = &eb
					}
					rep.Bundles++
				}
			}
			var leaf []byte
			switch {
			case rec != nil:
				var err error
				if leaf, err = Leaf(rec.Salt, rec.Event); err != nil {
					rep.problem(int64(i), "", "record cannot be hashed to a leaf (salt or event edited?): %v", err)
				}
				checkColumns(&rep, rec)
			default:
				rep.problem(int64(i), "", "record missing from the store (deleted?)")
			}
			var logEntry []byte
			if inLog && cur != nil {
				if k := int(i % layout.EntryBundleWidth); k < len(cur.Entries) {
					logEntry = cur.Entries[k]
				}
			}
			if inLog && rec != nil && cur != nil {
				switch {
				case logEntry == nil:
					rep.problem(int64(i), curPath, "log entry missing")
				case !bytes.Equal(logEntry, leaf):
					rep.problem(int64(i), curPath, "log entry %x does not match the leaf %x recomputed from the stored event and salt (event, salt or entry edited, or entries reordered)", logEntry, leaf)
				}
			}
			if leaf == nil {
				// Keep going with the log's entry so that later checks
				// still mean something.
				leaf = logEntry
			}
			if leaf == nil {
				leaf = []byte{}
			}
			lh := rfc6962.DefaultHasher.HashLeaf(leaf)
			if err := rng.Append(lh, nil); err != nil {
				return rep, fmt.Errorf("internal error: %w", err)
			}
			if inLog {
				leaves = append(leaves, lh)
				if len(leaves) == layout.EntryBundleWidth || i+1 == T {
					rep.Tiles++
					checkTile(ctx, &rep, fetch, 0, b, T, leaves)
					if len(leaves) == layout.EntryBundleWidth {
						level8 = append(level8, perfectRoot(leaves))
					}
					leaves = leaves[:0]
				}
			}
			if (nextCP < len(cps) && cps[nextCP].size == i+1) || i+1 == T {
				root, err := rng.GetRootHash(nil)
				if err != nil {
					return rep, fmt.Errorf("internal error: %w", err)
				}
				checkRoots(i+1, root)
				if i+1 == T {
					rep.Root = root
				}
			}
		}
		if ri != len(recs) {
			return rep, fmt.Errorf("store returned records out of range [%d, %d)", from, to)
		}
	}
	if T == 0 {
		rep.Root = rfc6962.DefaultHasher.EmptyRoot()
	}
	if pubErr == nil && rep.LogSize < maxIssued {
		// The checkpoint file is older than a checkpoint the log issued.
		// If the tiles for the issued size are all there and match, only
		// the file is stale (a crash between saving a checkpoint and
		// publishing it; tessera republishes on the next start).
		// Otherwise the log directory was replaced by an older copy.
		if rep.ProblemCount > 0 {
			rep.problem(-1, layout.CheckpointPath, "published checkpoint has size %d but the log has issued a checkpoint of size %d: the log was rolled back to an older copy", rep.LogSize, maxIssued)
		} else {
			rep.Warnings = append(rep.Warnings, fmt.Sprintf("published checkpoint (size %d) is older than the latest issued one (size %d), but the log holds all %d entries; the server publishes a new one when it runs", rep.LogSize, maxIssued, maxIssued))
		}
	}
	for _, c := range cps[nextCP:] {
		rep.problem(-1, "", "%s: size %d is beyond the %d records in the store; its root cannot be recomputed", c.name, c.size, rng.End())
	}

	// Tiles above level 0.
	nodes := level8
	for level := uint64(1); T>>(level*layout.TileHeight) > 0; level++ {
		var next [][]byte
		for j := uint64(0); j*layout.TileWidth < uint64(len(nodes)); j++ {
			lo := j * layout.TileWidth
			hi := min(lo+layout.TileWidth, uint64(len(nodes)))
			rep.Tiles++
			checkTile(ctx, &rep, fetch, level, j, T, nodes[lo:hi])
			if hi-lo == layout.TileWidth {
				next = append(next, perfectRoot(nodes[lo:hi]))
			}
		}
		nodes = next
	}

	if rep.ProblemCount > 0 {
		return rep, &VerifyError{Problems: rep.Problems, Count: rep.ProblemCount}
	}
	return rep, nil
}

// checkTile compares the tile at (level, index) for tree size T with the
// recomputed hashes want.
func checkTile(ctx context.Context, rep *Report, fetch client.FileFetcher, level, index, T uint64, want [][]byte) {
	p := layout.PartialTileSize(level, index, T)
	path := layout.TilePath(level, index, p)
	firstLeaf := int64(index << (level * layout.TileHeight) * layout.TileWidth)
	raw, err := fetch.ReadTile(ctx, level, index, p)
	if err != nil {
		rep.problem(firstLeaf, path, "tile missing or unreadable: %v", err)
		return
	}
	var t api.HashTile
	if err := t.UnmarshalText(raw); err != nil {
		rep.problem(firstLeaf, path, "tile malformed: %v", err)
		return
	}
	if len(t.Nodes) < len(want) {
		rep.problem(firstLeaf, path, "tile has %d hashes, want %d", len(t.Nodes), len(want))
		return
	}
	for k, h := range want {
		if !bytes.Equal(t.Nodes[k], h) {
			rep.problem(firstLeaf+int64(k)<<(level*layout.TileHeight), path, "tile hash %d is %x, recomputed %x", k, t.Nodes[k], h)
			return
		}
	}
}

// perfectRoot returns the root of a perfect subtree with the given
// (power-of-two many) child hashes.
func perfectRoot(hs [][]byte) []byte {
	level := slices.Clone(hs)
	for len(level) > 1 {
		next := level[:0:0]
		for i := 0; i+1 < len(level); i += 2 {
			next = append(next, rfc6962.DefaultHasher.HashChildren(level[i], level[i+1]))
		}
		level = next
	}
	return level[0]
}

// noteBody returns a signed note's text without its signatures, so that a
// checkpoint cosigned by witnesses matches the log-signed copy.
func noteBody(n []byte) string {
	if i := bytes.Index(n, []byte("\n\n")); i >= 0 {
		return string(n[:i+1])
	}
	return string(n)
}

func cmpU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// checkColumns checks the columns the store keeps beside an audit event —
// customer, actor, time, which /my, trace and the dashboard look records up
// by — against the committed event itself: a record moved to another
// customer's history (or actor's) is named by its index.
func checkColumns(rep *Report, rec *store.AuditRecord) {
	ev, err := event.Parse(rec.Event)
	if err != nil {
		rep.problem(int64(rec.Index), "", "stored event does not parse: %v", err)
		return
	}
	if rec.Customer != ev.Customer {
		rep.problem(int64(rec.Index), "", "the record's customer column says %q but its event is about %q (record moved to another customer's history)", rec.Customer, ev.Customer)
	}
	if rec.Actor != ev.Actor {
		rep.problem(int64(rec.Index), "", "the record's actor column says %q but its event's actor is %q", rec.Actor, ev.Actor)
	}
	if !rec.Time.IsZero() && !rec.Time.Equal(ev.Time) {
		rep.problem(int64(rec.Index), "", "the record's time column %s differs from its event's time %s", rec.Time.UTC().Format(time.RFC3339Nano), ev.Time.UTC().Format(time.RFC3339Nano))
	}
}
