package auditlog

import (
	"bufio"
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
	"slices"
	"time"

	f_log "github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/tessera/api/layout"
	"golang.org/x/mod/sumdb/note"

	"github.com/custos-dev/custos/internal/store"
)

// KeyHistoryFile is the name, inside the data directory, of the log's key
// history: one JSON line per rotation of the signing key, each holding a
// hand-over note signed by both the retired and the new key. It is public
// (it holds verifier keys and signatures only).
const KeyHistoryFile = "log-keys"

// handoverHeader is the first line of a hand-over note.
const handoverHeader = "custos audit log key handover"

// ErrRotation is wrapped by RotateKey errors that leave nothing changed.
var ErrRotation = errors.New("log key rotation")

// Handover is one rotation of the log's signing key: the retired key
// signed checkpoints up to and including tree size Size, the new key
// signs checkpoints from Size on. Note is the hand-over statement, a
// signed note carrying both keys' signatures.
type Handover struct {
	Time time.Time `json:"time"`
	Size uint64    `json:"size"`
	Old  string    `json:"old"` // retired verifier key
	New  string    `json:"new"` // new verifier key
	Note string    `json:"note"`
}

func handoverText(origin string, size uint64, oldKey, newKey string) string {
	return fmt.Sprintf("%s\norigin %s\nsize %d\nold %s\nnew %s\n", handoverHeader, origin, size, oldKey, newKey)
}

// check verifies h's note: its text states exactly h's fields and both
// keys signed it.
func (h Handover) check(origin string) error {
	ov, err := note.NewVerifier(h.Old)
	if err != nil {
		return fmt.Errorf("old key: %w", err)
	}
	nv, err := note.NewVerifier(h.New)
	if err != nil {
		return fmt.Errorf("new key: %w", err)
	}
	n, err := note.Open([]byte(h.Note), note.VerifierList(ov, nv))
	if err != nil {
		return fmt.Errorf("hand-over note: %w", err)
	}
	if n.Text != handoverText(origin, h.Size, h.Old, h.New) {
		return errors.New("hand-over note does not state this hand-over")
	}
	signed := map[uint32]bool{}
	for _, s := range n.Sigs {
		signed[s.Hash] = true
	}
	if !signed[ov.KeyHash()] || !signed[nv.KeyHash()] {
		return errors.New("hand-over note is not signed by both keys")
	}
	return nil
}

// ReadKeyHistory returns the hand-overs recorded in dir/KeyHistoryFile,
// oldest first; none if the file does not exist. It does not check them.
func ReadKeyHistory(dir string) ([]Handover, error) {
	b, err := os.ReadFile(filepath.Join(dir, KeyHistoryFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read key history: %w", err)
	}
	return parseKeyHistory(b)
}

// parseKeyHistory parses the key history file's JSON lines.
func parseKeyHistory(b []byte) ([]Handover, error) {
	var hs []Handover
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for line := 1; sc.Scan(); line++ {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var h Handover
		if err := json.Unmarshal(sc.Bytes(), &h); err != nil {
			return nil, fmt.Errorf("key history %s line %d: %w", KeyHistoryFile, line, err)
		}
		hs = append(hs, h)
	}
	return hs, sc.Err()
}

// keyEra is a verifier key and the largest checkpoint size it may sign.
type keyEra struct {
	vkey string
	v    note.Verifier
	to   uint64 // the largest size it may sign
}

// keyEras returns the keys that may have signed this log's checkpoints,
// from the key history in dir, given one trusted key (the pinned or
// current verifier key). The trusted key must be in the chain of
// hand-overs (or there must be none). Each hand-over is signed by both
// its keys, so trusting any key of the chain authenticates all of them;
// a retired key is accepted only for sizes up to its hand-over.
// The history is the store's when it keeps one (KeyWrapper), dir's
// otherwise.
func keyEras(ctx context.Context, st store.Store, dir, origin, trusted string) ([]keyEra, error) {
	hs, err := readHistory(ctx, st, dir)
	if err != nil {
		return nil, err
	}
	return chainEras(hs, origin, trusted)
}

// chainEras checks the chain of hand-overs hs (see keyEras).
func chainEras(hs []Handover, origin, trusted string) ([]keyEra, error) {
	keys := []string{trusted}
	if len(hs) > 0 {
		keys = []string{hs[0].Old}
		for i, h := range hs {
			if err := h.check(origin); err != nil {
				return nil, fmt.Errorf("key history entry %d: %w", i+1, err)
			}
			if h.Old != keys[len(keys)-1] {
				return nil, fmt.Errorf("key history entry %d: hands over from %s, but the key then in use was %s", i+1, h.Old, keys[len(keys)-1])
			}
			if i > 0 && h.Size < hs[i-1].Size {
				return nil, fmt.Errorf("key history entry %d: size %d goes back", i+1, h.Size)
			}
			keys = append(keys, h.New)
		}
		if !slices.Contains(keys, trusted) {
			return nil, fmt.Errorf("verifier key %s is not in the key history %s", trusted, KeyHistoryFile)
		}
	}
	eras := make([]keyEra, len(keys))
	for i, k := range keys {
		v, err := note.NewVerifier(k)
		if err != nil {
			return nil, fmt.Errorf("verifier key: %w", err)
		}
		// A key may sign any size up to its hand-over (a log rebuilt from
		// the store re-signs small trees with the current key); every
		// root is checked against the records anyway. The bound that
		// matters is the upper one: a retired key, even if stolen later,
		// cannot vouch for a tree beyond the hand-over.
		eras[i] = keyEra{vkey: k, v: v, to: math.MaxUint64}
		if i < len(hs) {
			eras[i].to = hs[i].Size
		}
	}
	return eras, nil
}

// parseByEra parses a checkpoint signed by any of eras' keys and checks
// that the key may sign a checkpoint of that size.
func parseByEra(raw []byte, origin string, eras []keyEra) (*f_log.Checkpoint, error) {
	var firstErr error
	for i := len(eras) - 1; i >= 0; i-- {
		e := eras[i]
		cp, _, _, err := f_log.ParseCheckpoint(raw, origin, e.v)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		if cp.Size > e.to {
			return nil, fmt.Errorf("signed by the retired key %s, which signs only sizes up to its hand-over at %d, at size %d",
				e.vkey, e.to, cp.Size)
		}
		return cp, nil
	}
	return nil, firstErr
}

// RotateKey replaces the log's signing key in dir with a new Ed25519 key
// of the same name (the log's origin stays). The log must not be open in
// any process (stop the server first); RotateKey takes the directory's
// lock and fails with ErrLocked otherwise.
//
// The retired key signs a hand-over, with the new key, at the size of the
// largest checkpoint issued so far (appended to dir/KeyHistoryFile); the
// latest checkpoint is re-signed with the new key, recorded in the store
// and published, so the first checkpoint under the new key commits to the
// same tree as the last one under the old. Verify accepts a retired key
// only for checkpoints up to its hand-over size. Order, for crash safety: the new key goes to a temporary
// file, then the history line, then the store's record of the key and the
// re-signed checkpoint, then the key file is renamed into place. If a
// rotation stops half-way, calling RotateKey again finishes it.
//
// It returns the new verifier key.
func RotateKey(ctx context.Context, st store.Store, dir string) (string, error) {
	unlock, err := lockDir(dir)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrRotation, err)
	}
	defer unlock()
	keyPath := filepath.Join(dir, KeyFile)
	newPath := keyPath + ".new"
	oldKey, err := readKeyFile(keyPath)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrRotation, err)
	}
	oldV, err := verifierOf(oldKey)
	if err != nil {
		return "", err
	}
	oldSigner, err := note.NewSigner(string(oldKey))
	if err != nil {
		return "", err
	}
	origin := oldSigner.Name()
	hs, err := ReadKeyHistory(dir)
	if err != nil {
		return "", err
	}
	recorded, err := st.Meta(ctx, metaVerifierKey)
	if err != nil {
		return "", fmt.Errorf("%w: read the store's verifier key: %v", ErrRotation, err)
	}

	var newKey signingKey
	var h Handover
	if b, err := os.ReadFile(newPath); err == nil && len(hs) > 0 && hs[len(hs)-1].Old == oldV {
		// Finish an interrupted rotation: its history line is written.
		if newKey, err = parseKey(newPath, b); err != nil {
			return "", err
		}
		h = hs[len(hs)-1]
		if nv, err := verifierOf(newKey); err != nil || nv != h.New {
			return "", fmt.Errorf("%w: %s does not match the last hand-over in %s", ErrRotation, newPath, KeyHistoryFile)
		}
	} else {
		os.Remove(newPath)
		if string(recorded) != oldV {
			return "", fmt.Errorf("%w: the signing key in %s is not the one the store records (%s)", ErrRotation, keyPath, recorded)
		}
		cps, err := st.Checkpoints(ctx)
		if err != nil {
			return "", fmt.Errorf("%w: read checkpoints: %v", ErrRotation, err)
		}
		var size uint64
		for _, c := range cps {
			size = max(size, c.Size)
		}
		skey, _, err := note.GenerateKey(rand.Reader, origin)
		if err != nil {
			return "", fmt.Errorf("generate signing key: %w", err)
		}
		newKey = signingKey(skey)
		if err := writeFileSync(newPath, []byte(skey+"\n"), 0o600, true); err != nil {
			return "", fmt.Errorf("%w: write new key: %v", ErrRotation, err)
		}
		newV, err := verifierOf(newKey)
		if err != nil {
			return "", err
		}
		newSigner, err := note.NewSigner(string(newKey))
		if err != nil {
			return "", err
		}
		text := handoverText(origin, size, oldV, newV)
		signed, err := note.Sign(&note.Note{Text: text}, oldSigner, newSigner)
		if err != nil {
			os.Remove(newPath)
			return "", fmt.Errorf("sign hand-over: %w", err)
		}
		h = Handover{Time: time.Now().UTC(), Size: size, Old: oldV, New: newV, Note: string(signed)}
		line, _ := json.Marshal(h)
		if err := appendFileSync(filepath.Join(dir, KeyHistoryFile), append(line, '\n')); err != nil {
			os.Remove(newPath)
			return "", fmt.Errorf("%w: write %s: %v", ErrRotation, KeyHistoryFile, err)
		}
	}
	newSigner, err := note.NewSigner(string(newKey))
	if err != nil {
		return "", err
	}
	// The latest checkpoint again, under the new key.
	cps, err := st.Checkpoints(ctx)
	if err != nil {
		return "", fmt.Errorf("read checkpoints: %w", err)
	}
	var latest *store.Checkpoint
	for i := range cps {
		if latest == nil || cps[i].Size >= latest.Size {
			latest = &cps[i]
		}
	}
	var resigned []byte
	if latest != nil {
		body := noteBody(latest.Note)
		if resigned, err = note.Sign(&note.Note{Text: body}, newSigner); err != nil {
			return "", fmt.Errorf("re-sign checkpoint: %w", err)
		}
		if latest.Size != h.Size {
			return "", fmt.Errorf("%w: the latest checkpoint has size %d, the hand-over says %d (was the server running?)", ErrRotation, latest.Size, h.Size)
		}
		if !bytes.Equal(resigned, latest.Note) {
			if err := st.AddCheckpoint(ctx, store.Checkpoint{Size: latest.Size, Note: resigned, Time: time.Now()}); err != nil {
				return "", fmt.Errorf("record re-signed checkpoint: %w", err)
			}
		}
	}
	if err := st.SetMeta(ctx, metaVerifierKey, []byte(h.New)); err != nil {
		return "", fmt.Errorf("record new verifier key: %w", err)
	}
	if resigned != nil {
		cpPath := filepath.Join(dir, LogDir, layout.CheckpointPath)
		if _, err := os.Stat(cpPath); err == nil {
			if err := writeFileSync(cpPath+".rotate", resigned, 0o644, false); err != nil {
				return "", err
			}
			if err := os.Rename(cpPath+".rotate", cpPath); err != nil {
				return "", fmt.Errorf("publish re-signed checkpoint: %w", err)
			}
		}
	}
	if err := os.Rename(newPath, keyPath); err != nil {
		return "", fmt.Errorf("install new key (run the rotation again to finish): %w", err)
	}
	syncDir(dir)
	return h.New, nil
}

func readKeyFile(path string) (signingKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read signing key: %w", err)
	}
	return parseKey(path, b)
}

// writeFileSync writes data to path and syncs it; excl refuses an
// existing file.
func writeFileSync(path string, data []byte, mode os.FileMode, excl bool) error {
	flags := os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	if excl {
		flags = os.O_WRONLY | os.O_CREATE | os.O_EXCL
	}
	f, err := os.OpenFile(path, flags, mode)
	if err != nil {
		return err
	}
	_, werr := f.Write(data)
	if err := errors.Join(werr, f.Sync(), f.Close()); err != nil {
		os.Remove(path)
		return err
	}
	return nil
}

func appendFileSync(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	_, werr := f.Write(data)
	return errors.Join(werr, f.Sync(), f.Close())
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}
