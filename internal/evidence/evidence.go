// Package evidence builds and checks evidence bundles: the audit entries of
// one person in one investigation, each with its inclusion proof, the
// signed checkpoint they are proven against, the log's verifier key and a
// readable summary, in one tar file that an outside party (HR, legal, the
// police, a court) checks offline without trusting whoever produced it.
//
// A bundle holds, in this order:
//
//	manifest.json        what the bundle is about: case, person, window, entry indexes
//	checkpoint           the signed (and cosigned) checkpoint, signed-note text
//	verifier.key         the log's note verifier key
//	entries/<index>.json each entry with its proof (auditlog.EntryProof's JSON)
//	summary.html         the readable summary, rendered from the rest
//
// Verify checks every entry's leaf, its inclusion proof and the
// checkpoint's signature, that the entries are the person's and inside the
// window, and that the summary is exactly what the rest renders to; so an
// edit to any byte is named.
package evidence

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/custos-dev/custos/internal/auditlog"
	"github.com/custos-dev/custos/internal/event"
)

// Format names the bundle format in its manifest.
const Format = "custos-evidence/1"

// MaxEntries is the most entries one bundle holds.
const MaxEntries = 100_000

// Manifest says what a bundle is about.
type Manifest struct {
	Format  string    `json:"format"`
	Case    int64     `json:"case"`
	Alert   int64     `json:"alert"`
	Person  string    `json:"person"`
	From    time.Time `json:"from"`
	To      time.Time `json:"to"`
	Status  string    `json:"status"`
	Outcome string    `json:"outcome,omitempty"`
	Made    time.Time `json:"made"`
	Origin  string    `json:"origin"`
	// TreeSize is the checkpoint's size; every entry is proven against it.
	TreeSize uint64   `json:"tree_size"`
	Entries  []uint64 `json:"entries"`
}

// Bundle is an evidence bundle in memory.
type Bundle struct {
	Manifest    Manifest
	Checkpoint  string
	VerifierKey string
	Entries     []auditlog.EntryProof
}

// WriteTar writes b as a tar file.
func (b Bundle) WriteTar(w io.Writer) error {
	tw := tar.NewWriter(w)
	add := func(name string, body []byte) error {
		hdr := &tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), ModTime: b.Manifest.Made, Format: tar.FormatPAX}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		_, err := tw.Write(body)
		return err
	}
	m, err := json.MarshalIndent(b.Manifest, "", "  ")
	if err != nil {
		return err
	}
	if err := add("manifest.json", m); err != nil {
		return err
	}
	if err := add("checkpoint", []byte(b.Checkpoint)); err != nil {
		return err
	}
	if err := add("verifier.key", []byte(b.VerifierKey+"\n")); err != nil {
		return err
	}
	for _, e := range b.Entries {
		j, err := json.MarshalIndent(e, "", "  ")
		if err != nil {
			return err
		}
		if err := add(entryName(e.Index), j); err != nil {
			return err
		}
	}
	sum, err := b.Summary()
	if err != nil {
		return err
	}
	if err := add("summary.html", sum); err != nil {
		return err
	}
	return tw.Close()
}

func entryName(i uint64) string { return "entries/" + strconv.FormatUint(i, 10) + ".json" }

// Report is what Verify found.
type Report struct {
	Manifest Manifest
	// Entries is the number of entries checked.
	Entries int
	// KeyFromBundle is set when no trusted key was given, so the bundle was
	// checked against the key it carries: compare that key with the log's
	// published one.
	KeyFromBundle bool
	// Problems lists what is wrong, each naming the file; empty when the
	// bundle verifies.
	Problems []string
}

// OK reports whether the bundle verified.
func (r Report) OK() bool { return len(r.Problems) == 0 }

// String says what was found: the problems, one a line, or what verified.
func (r Report) String() string {
	if !r.OK() {
		return fmt.Sprintf("%d problem(s):\n  %s", len(r.Problems), strings.Join(r.Problems, "\n  "))
	}
	s := fmt.Sprintf("evidence bundle OK: case %d, %s, %d entries proven against the signed checkpoint of %d entries",
		r.Manifest.Case, r.Manifest.Person, r.Entries, r.Manifest.TreeSize)
	if r.KeyFromBundle {
		s += " (checked against the key in the bundle: give --key with the log's published key)"
	}
	return s
}

// ErrNotBundle reports input that is not an evidence bundle at all.
var ErrNotBundle = errors.New("not an evidence bundle")

// Verify reads a bundle from r and checks it with trustedKey (a note
// verifier key; "" means the key in the bundle). It returns an error only
// when r is not a bundle; everything wrong inside one is in the report.
func Verify(r io.Reader, trustedKey string) (Report, error) {
	files, order, err := readTar(r)
	if err != nil {
		return Report{}, err
	}
	var rep Report
	bad := func(format string, args ...any) { rep.Problems = append(rep.Problems, fmt.Sprintf(format, args...)) }
	mj, ok := files["manifest.json"]
	if !ok {
		return Report{}, fmt.Errorf("%w: no manifest.json", ErrNotBundle)
	}
	var b Bundle
	if err := json.Unmarshal(mj, &b.Manifest); err != nil || b.Manifest.Format != Format {
		return Report{}, fmt.Errorf("%w: manifest.json is not a %s manifest", ErrNotBundle, Format)
	}
	rep.Manifest = b.Manifest
	b.Checkpoint = string(files["checkpoint"])
	b.VerifierKey = strings.TrimSpace(string(files["verifier.key"]))
	key := trustedKey
	if key == "" {
		key, rep.KeyFromBundle = b.VerifierKey, true
	} else if b.VerifierKey != strings.TrimSpace(trustedKey) {
		bad("verifier.key: not the key you trust (%q)", strings.TrimSpace(trustedKey))
	}
	want := map[string]bool{"manifest.json": true, "checkpoint": true, "verifier.key": true, "summary.html": true}
	for _, i := range b.Manifest.Entries {
		name := entryName(i)
		want[name] = true
		raw, ok := files[name]
		if !ok {
			bad("%s: listed in the manifest but missing", name)
			continue
		}
		var e auditlog.EntryProof
		if err := json.Unmarshal(raw, &e); err != nil {
			bad("%s: not an entry: %v", name, err)
			continue
		}
		b.Entries = append(b.Entries, e)
		rep.Entries++
		switch {
		case e.Index != i:
			bad("%s: holds entry %d", name, e.Index)
		case e.Checkpoint != b.Checkpoint || e.TreeSize != b.Manifest.TreeSize:
			bad("%s: proven against another checkpoint than the bundle's", name)
		}
		if err := e.Verify(key); err != nil {
			bad("%s: %v", name, err)
			continue
		}
		ev, err := event.Parse(e.Event)
		if err != nil {
			bad("%s: event: %v", name, err)
			continue
		}
		if ev.Actor != b.Manifest.Person {
			bad("%s: an entry of %q, not of %q", name, ev.Actor, b.Manifest.Person)
		}
		if ev.Time.Before(b.Manifest.From) || !ev.Time.Before(b.Manifest.To) {
			bad("%s: at %s, outside the window", name, ev.Time.Format(time.RFC3339))
		}
	}
	for _, name := range order {
		if !want[name] {
			bad("%s: not part of the bundle (added?)", name)
		}
	}
	for name := range want {
		if _, ok := files[name]; !ok && !strings.HasPrefix(name, "entries/") {
			bad("%s: missing", name)
		}
	}
	if sum, err := b.Summary(); err != nil {
		bad("summary.html: cannot be rendered from the entries: %v", err)
	} else if !bytes.Equal(sum, files["summary.html"]) {
		bad("summary.html: differs from the summary of the verified entries (edited?)")
	}
	return rep, nil
}

// readTar reads every regular file of a tar, refusing duplicates and
// anything that is not a plain relative path.
func readTar(r io.Reader) (map[string][]byte, []string, error) {
	tr := tar.NewReader(r)
	files := map[string][]byte{}
	var order []string
	var total int64
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %v", ErrNotBundle, err)
		}
		if h.Typeflag != tar.TypeReg || h.Name != path.Clean(h.Name) || path.IsAbs(h.Name) || strings.HasPrefix(h.Name, "..") {
			return nil, nil, fmt.Errorf("%w: unexpected member %q", ErrNotBundle, h.Name)
		}
		if _, dup := files[h.Name]; dup {
			return nil, nil, fmt.Errorf("%w: %s appears twice", ErrNotBundle, h.Name)
		}
		total += h.Size
		if h.Size > 1<<20 || total > 1<<31 {
			return nil, nil, fmt.Errorf("%w: %s is too large", ErrNotBundle, h.Name)
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %v", ErrNotBundle, err)
		}
		files[h.Name] = body
		order = append(order, h.Name)
	}
	slices.Sort(order)
	return files, order, nil
}
