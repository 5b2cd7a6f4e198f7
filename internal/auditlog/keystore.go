package auditlog

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/custos-dev/custos/internal/datadir"
	"github.com/custos-dev/custos/internal/store"
)

// Store Meta keys of a log whose signing key is kept in the store
// (Options.KeyWrapper set).
const (
	// MetaSigningKey holds the signing key, wrapped by the KeyWrapper
	// (the master key): a copy of the database alone cannot sign.
	MetaSigningKey = "audit.signing_key"
	// MetaKeyHistory holds the key history (the hand-overs, JSON lines as
	// in KeyHistoryFile). Public.
	MetaKeyHistory = "audit.key_history"
	// metaRotation holds a rotation in progress (JSON rotationState), or
	// is empty.
	metaRotation = "audit.key_rotation"
)

// DefaultRotationGrace is how long RotateStoredKey waits, after the new
// key is in the store, for running gateways to stop signing with the old
// one (each checks the store before every signature).
const DefaultRotationGrace = 2 * time.Second

// KeyWrapper seals the log's signing key for keeping it in the store. The
// master key's wrapper (masterkey.LogKeyWrapper) is the one custos uses,
// so that a gateway needs only the database and the master key. Wrap MUST
// be authenticated encryption: Unwrap fails on anything Wrap did not
// produce under the same key.
type KeyWrapper interface {
	Wrap(plain []byte) ([]byte, error)
	Unwrap(wrapped []byte) ([]byte, error)
}

// storedKey reads and unwraps the signing key kept in st; ok is false if
// there is none.
func storedKey(ctx context.Context, st store.Store, w KeyWrapper) (k signingKey, wrapped []byte, ok bool, err error) {
	wrapped, err = st.Meta(ctx, MetaSigningKey)
	if errors.Is(err, store.ErrNotFound) || err == nil && len(wrapped) == 0 {
		return "", nil, false, nil
	}
	if err != nil {
		return "", nil, false, fmt.Errorf("read signing key from the store: %w", err)
	}
	plain, err := w.Unwrap(wrapped)
	if err != nil {
		return "", nil, false, fmt.Errorf("unwrap the log's signing key (is this the deployment's master key?): %w", err)
	}
	k, err = parseKey("store meta "+MetaSigningKey, plain)
	return k, wrapped, err == nil, err
}

// loadStoreKey returns the signing key kept in the store, importing
// dir/KeyFile (and dir/KeyHistoryFile) the first time, or creating a key
// for a new log. Several gateways may start at once: the first key stored
// wins and every one uses it.
func loadStoreKey(ctx context.Context, st store.Store, w KeyWrapper, dir, origin string, logf func(string, ...any)) (signingKey, error) {
	if k, _, ok, err := storedKey(ctx, st, w); ok || err != nil {
		return k, err
	}
	var k signingKey
	path := filepath.Join(dir, KeyFile)
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		if k, err = parseKey(path, b); err != nil {
			return "", err
		}
		if hb, err := os.ReadFile(filepath.Join(dir, KeyHistoryFile)); err == nil && len(bytes.TrimSpace(hb)) > 0 {
			if _, err := parseKeyHistory(hb); err != nil {
				return "", err
			}
			if _, err := st.SetMetaOnce(ctx, MetaKeyHistory, hb); err != nil {
				return "", fmt.Errorf("import key history: %w", err)
			}
		}
		logf("audit log: importing the signing key file into the store (from now on the store's copy is used)", "file", path)
	case errors.Is(err, fs.ErrNotExist):
		if recorded, err := st.Meta(ctx, metaVerifierKey); err == nil {
			return "", fmt.Errorf("the log's signing key is neither in the store nor in %s (its verifier key is %s): %w", path, recorded, ErrNoKey)
		}
		skey, _, err := note.GenerateKey(rand.Reader, origin)
		if err != nil {
			return "", fmt.Errorf("generate signing key: %w", err)
		}
		k = signingKey(skey)
	default:
		return "", fmt.Errorf("read signing key: %w", err)
	}
	wrapped, err := w.Wrap([]byte(k))
	if err != nil {
		return "", fmt.Errorf("wrap signing key: %w", err)
	}
	if _, err := st.SetMetaOnce(ctx, MetaSigningKey, wrapped); err != nil {
		return "", fmt.Errorf("store signing key: %w", err)
	}
	k, _, ok, err := storedKey(ctx, st, w)
	if err == nil && !ok {
		err = errors.New("signing key vanished from the store")
	}
	return k, err
}

// StoredVerifierKey returns the verifier key of the signing key kept in
// st, unwrapping it with w (so it also proves w is the deployment's master
// key). If the store holds no key yet (no gateway has imported
// dir/KeyFile), it is dir/KeyFile's; ErrNoKey if neither has one.
func StoredVerifierKey(ctx context.Context, st store.Store, w KeyWrapper, dir string) (string, error) {
	k, _, ok, err := storedKey(ctx, st, w)
	if err != nil {
		return "", err
	}
	if !ok {
		if v, err := VerifierKey(dir); err == nil {
			return v, nil
		}
		return "", fmt.Errorf("%w in the store (start a gateway once: it imports <data>/%s or creates a key)", ErrNoKey, KeyFile)
	}
	return verifierOf(k)
}

// readHistory returns the key history: the store's when it has one,
// dir/KeyHistoryFile otherwise.
func readHistory(ctx context.Context, st store.Store, dir string) ([]Handover, error) {
	if st != nil {
		b, err := st.Meta(ctx, MetaKeyHistory)
		if err == nil && len(bytes.TrimSpace(b)) > 0 {
			return parseKeyHistory(b)
		}
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("read key history: %w", err)
		}
	}
	if dir == "" {
		return nil, nil
	}
	return ReadKeyHistory(dir)
}

// liveSigner is the log's current signing key. In store mode it follows
// the store: before every signature it checks the stored key and switches
// to a rotated one.
type liveSigner struct {
	mu       sync.Mutex
	signer   note.Signer
	verifier string
	wrapped  []byte // the store's bytes the key came from (store mode)
}

func (s *liveSigner) get() (note.Signer, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.signer, s.verifier
}

// errKeyChanged makes tessera retry a checkpoint after a key rotation:
// the note it was building carries the old key's hash.
var errKeyChanged = errors.New("the log's signing key was rotated; signing again with the new key")

// refresh switches to the store's key if it changed. It reports whether
// it did.
func (l *Log) refreshKey(ctx context.Context) (bool, error) {
	if l.opts.KeyWrapper == nil {
		return false, nil
	}
	wrapped, err := l.st.Meta(ctx, MetaSigningKey)
	if err != nil {
		return false, fmt.Errorf("read signing key: %w", err)
	}
	l.keyState.mu.Lock()
	same := bytes.Equal(wrapped, l.keyState.wrapped)
	l.keyState.mu.Unlock()
	if same {
		return false, nil
	}
	plain, err := l.opts.KeyWrapper.Unwrap(wrapped)
	if err != nil {
		// The master key was rotated and this gateway still has the old
		// one: keep signing with the key it has (the same one, unless the
		// log key was rotated too), and say so once.
		l.keyState.mu.Lock()
		l.keyState.wrapped = wrapped
		l.keyState.mu.Unlock()
		l.log.Error("audit log: cannot unwrap the signing key in the store with this gateway's master key (was the master key rotated? restart with the new one); still signing with the key loaded at start", "err", err)
		return false, nil
	}
	k, err := parseKey("store meta "+MetaSigningKey, plain)
	if err != nil {
		return false, err
	}
	if _, cur := l.keyState.get(); cur != "" {
		if v, err := verifierOf(k); err == nil && v == cur { // re-wrapped, same key
			l.keyState.mu.Lock()
			l.keyState.wrapped = wrapped
			l.keyState.mu.Unlock()
			return false, nil
		}
	}
	signer, err := note.NewSigner(string(k))
	if err != nil {
		return false, err
	}
	vkey, err := verifierOf(k)
	if err != nil {
		return false, err
	}
	if signer.Name() != l.origin {
		return false, fmt.Errorf("rotated signing key is named %q, not the log's origin %q", signer.Name(), l.origin)
	}
	l.keyState.mu.Lock()
	l.keyState.signer, l.keyState.verifier, l.keyState.wrapped = signer, vkey, wrapped
	l.keyState.mu.Unlock()
	l.log.Info("audit log: signing key rotated in the store; signing with the new key", "verifier_key", vkey)
	return true, nil
}

// rotationState is a rotation in progress (store mode).
type rotationState struct {
	Old []byte `json:"old"` // wrapped retired key
	New []byte `json:"new"` // wrapped new key
}

// RotateStoredKey rotates a signing key kept in the store (see
// Options.KeyWrapper) while gateways run: every gateway checks the stored
// key before it signs a checkpoint and switches to the new one.
//
// Order: the rotation is recorded (both keys wrapped), the new key and its
// verifier key are stored; after grace (DefaultRotationGrace if zero), so
// that no gateway still signs with the old key, the old key signs a
// hand-over at the largest size it signed, with the new key, appended to
// the store's key history; the latest checkpoint is re-signed with the
// new key. If it stops half-way, calling it again finishes that rotation.
// A Verify run during the grace may report the new key as missing from
// the key history.
//
// It returns the retired and the new verifier keys.
func RotateStoredKey(ctx context.Context, st store.Store, w KeyWrapper, grace time.Duration) (oldV, newV string, err error) {
	if grace <= 0 {
		grace = DefaultRotationGrace
	}
	var rs rotationState
	if b, err := st.Meta(ctx, metaRotation); err == nil && len(b) > 0 {
		if err := json.Unmarshal(b, &rs); err != nil {
			return "", "", fmt.Errorf("%w: rotation in progress: %v", ErrRotation, err)
		}
	} else if err != nil && !errors.Is(err, store.ErrNotFound) {
		return "", "", fmt.Errorf("%w: %v", ErrRotation, err)
	}
	if rs.Old == nil {
		cur, _, ok, err := storedKey(ctx, st, w)
		if err != nil {
			return "", "", fmt.Errorf("%w: %v", ErrRotation, err)
		}
		if !ok {
			return "", "", fmt.Errorf("%w: no signing key in the store (start a gateway once)", ErrRotation)
		}
		s, err := note.NewSigner(string(cur))
		if err != nil {
			return "", "", err
		}
		skey, _, err := note.GenerateKey(rand.Reader, s.Name())
		if err != nil {
			return "", "", fmt.Errorf("generate signing key: %w", err)
		}
		if rs.Old, err = w.Wrap([]byte(cur)); err != nil {
			return "", "", err
		}
		if rs.New, err = w.Wrap([]byte(skey)); err != nil {
			return "", "", err
		}
		b, _ := json.Marshal(rs)
		if err := st.SetMeta(ctx, metaRotation, b); err != nil {
			return "", "", fmt.Errorf("%w: record rotation: %v", ErrRotation, err)
		}
	}
	oldKey, err := unwrapKey(w, rs.Old)
	if err != nil {
		return "", "", err
	}
	newKey, err := unwrapKey(w, rs.New)
	if err != nil {
		return "", "", err
	}
	if oldV, err = verifierOf(oldKey); err != nil {
		return "", "", err
	}
	if newV, err = verifierOf(newKey); err != nil {
		return "", "", err
	}
	if err := st.SetMeta(ctx, MetaSigningKey, rs.New); err != nil {
		return "", "", fmt.Errorf("store new signing key: %w", err)
	}
	if err := st.SetMeta(ctx, metaVerifierKey, []byte(newV)); err != nil {
		return "", "", fmt.Errorf("record new verifier key: %w", err)
	}
	select {
	case <-time.After(grace):
	case <-ctx.Done():
		return "", "", fmt.Errorf("rotation interrupted (run it again to finish): %w", ctx.Err())
	}

	oldSigner, _ := note.NewSigner(string(oldKey))
	newSigner, _ := note.NewSigner(string(newKey))
	origin := oldSigner.Name()
	ov, _ := note.NewVerifier(oldV)
	nv, _ := note.NewVerifier(newV)
	cps, err := st.Checkpoints(ctx)
	if err != nil {
		return "", "", fmt.Errorf("read checkpoints: %w", err)
	}
	var size uint64
	var latest *store.Checkpoint
	newCovers := false
	for i, c := range cps {
		if n, err := note.Open(c.Note, note.VerifierList(ov)); err == nil && len(n.Sigs) > 0 {
			size = max(size, c.Size)
		}
		if latest == nil || c.Size > latest.Size {
			latest = &cps[i]
		}
	}
	hs, err := readHistory(ctx, st, "")
	if err != nil {
		return "", "", err
	}
	if len(hs) == 0 || hs[len(hs)-1].New != newV {
		signed, err := note.Sign(&note.Note{Text: handoverText(origin, size, oldV, newV)}, oldSigner, newSigner)
		if err != nil {
			return "", "", fmt.Errorf("sign hand-over: %w", err)
		}
		h := Handover{Time: time.Now().UTC(), Size: size, Old: oldV, New: newV, Note: string(signed)}
		hb, _ := st.Meta(ctx, MetaKeyHistory)
		line, _ := json.Marshal(h)
		hb = append(bytes.TrimRight(hb, "\n"), '\n')
		if len(bytes.TrimSpace(hb)) == 0 {
			hb = nil
		}
		if err := st.SetMeta(ctx, MetaKeyHistory, append(append(hb, line...), '\n')); err != nil {
			return "", "", fmt.Errorf("record hand-over: %w", err)
		}
	}
	if latest != nil {
		for _, c := range cps {
			if c.Size == latest.Size {
				if n, err := note.Open(c.Note, note.VerifierList(nv)); err == nil && len(n.Sigs) > 0 {
					newCovers = true
				}
			}
		}
		if !newCovers {
			resigned, err := note.Sign(&note.Note{Text: noteBody(latest.Note)}, newSigner)
			if err != nil {
				return "", "", fmt.Errorf("re-sign checkpoint: %w", err)
			}
			if err := st.AddCheckpoint(ctx, store.Checkpoint{Size: latest.Size, Note: resigned, Time: time.Now()}); err != nil {
				return "", "", fmt.Errorf("record re-signed checkpoint: %w", err)
			}
		}
	}
	if err := st.SetMeta(ctx, metaRotation, []byte{}); err != nil {
		return "", "", fmt.Errorf("finish rotation: %w", err)
	}
	return oldV, newV, nil
}

func unwrapKey(w KeyWrapper, wrapped []byte) (signingKey, error) {
	plain, err := w.Unwrap(wrapped)
	if err != nil {
		return "", fmt.Errorf("%w: unwrap key: %v", ErrRotation, err)
	}
	return parseKey("rotation", plain)
}

// keyEras returns the keys that may have signed this log's checkpoints,
// trusting the current key; only the current key if the history does not
// chain to it.
func (l *Log) keyEras(ctx context.Context) ([]keyEra, error) {
	_, cur := l.keyState.get()
	v, err := note.NewVerifier(cur)
	if err != nil {
		return nil, fmt.Errorf("verifier key: %w", err)
	}
	hs, err := readHistory(ctx, l.st, l.opts.Dir)
	if err == nil {
		if eras, err := chainEras(hs, l.origin, cur); err == nil {
			return eras, nil
		}
	}
	return []keyEra{{vkey: cur, v: v, to: math.MaxUint64}}, nil
}

// openKey loads the signing key for Open: from the store when
// opts.KeyWrapper is set (importing or creating it), from opts.Dir/KeyFile
// otherwise (creating it for a new log, refusing to when the store
// records a log whose key file went missing). wrapped is the store's
// bytes it came from (store mode).
func openKey(ctx context.Context, opts Options) (key signingKey, wrapped []byte, err error) {
	if opts.KeyWrapper != nil {
		logf := func(msg string, args ...any) { opts.Logger.Info(msg, args...) }
		if key, err = loadStoreKey(ctx, opts.Store, opts.KeyWrapper, opts.Dir, opts.Origin, logf); err != nil {
			return "", nil, err
		}
		_, wrapped, _, err = storedKey(ctx, opts.Store, opts.KeyWrapper)
		return key, wrapped, err
	}
	// A log that already exists must not get a fresh key because its key
	// file went missing.
	recorded, err := opts.Store.Meta(ctx, metaVerifierKey)
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return "", nil, fmt.Errorf("read verifier key: %w", err)
	default:
		if _, err := os.Stat(filepath.Join(opts.Dir, KeyFile)); errors.Is(err, fs.ErrNotExist) {
			return "", nil, fmt.Errorf("the log's signing key %s is missing (restore it from a backup; its verifier key is %s): %w",
				filepath.Join(opts.Dir, KeyFile), recorded, ErrNoKey)
		}
	}
	key, err = loadOrCreateKey(opts.Dir, opts.Origin)
	return key, nil, err
}

// Rotate replaces the log signing key wherever it is kept: in the store
// when w is set (PostgreSQL; gateways may run, see RotateStoredKey), else
// in the data dir (the embedded store, the server stopped; RotateKey). It
// returns the retired and the new verifier key and where the hand-over is.
func Rotate(ctx context.Context, st store.Store, w KeyWrapper, dir string) (oldV, newV, where string, err error) {
	if w != nil {
		oldV, newV, err = RotateStoredKey(ctx, st, w, 0)
		return oldV, newV, "the database (audit.key_history); running gateways sign with the new key from their next checkpoint", err
	}
	if oldV, err = VerifierKey(dir); err != nil {
		return "", "", "", fmt.Errorf("%w: %w", ErrRotation, err)
	}
	newV, err = RotateKey(ctx, st, dir)
	return oldV, newV, datadir.Dir(dir).LogKeys(), err
}
