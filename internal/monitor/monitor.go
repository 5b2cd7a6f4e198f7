// Package monitor follows a custos audit log from outside, as a third
// party would: it needs the log's URL and the verifier key it trusts, and
// nothing from the operator.
//
// Each Check fetches the published checkpoint (C2SP signed note) and the
// trust document (/log/custos-log.json, for the key history), and checks:
//
//   - the checkpoint's signature, under the trusted key or a key the
//     trusted key handed over to (each hand-over is signed by both keys);
//   - with a witness policy, that the witnesses' cosignatures satisfy its
//     quorum;
//   - that the tree is consistent with every checkpoint seen before: the
//     same root at the same size, and an RFC 6962 consistency proof built
//     from the log's tiles to every smaller one;
//   - that the log did not shrink (a rollback).
//
// What it has seen is kept in a state file (JSON), written atomically after
// every successful check, so a fork is caught across runs, from any
// gateway of the deployment. A failed check returns a *Problem naming the
// sizes and roots involved; the state is then left as it was.
package monitor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/tessera"
	"github.com/transparency-dev/tessera/client"
	"golang.org/x/mod/sumdb/note"

	"github.com/custos-dev/custos/internal/auditlog"
)

// Problem kinds, wrapped by *Problem.
var (
	// ErrFork means two checkpoints the log signed describe trees that
	// cannot both be true: different roots at one size, or no valid
	// consistency proof between them. Somebody was shown another log.
	ErrFork = errors.New("fork")
	// ErrRollback means the log now publishes a smaller tree than one it
	// published before.
	ErrRollback = errors.New("rollback")
	// ErrSignature means the checkpoint is not signed by a trusted key,
	// or lacks the witness quorum's cosignatures.
	ErrSignature = errors.New("bad signature")
)

// MaxSeen is the most checkpoints a state keeps (the newest; the checks
// are transitive, so older ones add nothing once proven consistent).
const MaxSeen = 256

// Problem is a failed check.
type Problem struct {
	Kind   error  // ErrFork, ErrRollback or ErrSignature
	Size   uint64 // the published checkpoint's size
	Root   []byte // and root
	Seen   *Seen  // the earlier checkpoint it conflicts with, if any
	Detail string
}

func (p *Problem) Error() string {
	s := fmt.Sprintf("%v: published checkpoint of size %d (root %x)", p.Kind, p.Size, p.Root)
	if p.Seen != nil {
		s += fmt.Sprintf(" against the checkpoint of size %d (root %x) seen %s", p.Seen.Size, p.Seen.Root, p.Seen.Time.Format(time.RFC3339))
	}
	if p.Detail != "" {
		s += ": " + p.Detail
	}
	return s
}

func (p *Problem) Unwrap() error { return p.Kind }

// Seen is one checkpoint the monitor has checked.
type Seen struct {
	Size uint64    `json:"size"`
	Root []byte    `json:"root"`
	Note string    `json:"note"` // the signed checkpoint, as evidence
	Key  string    `json:"key"`  // the verifier key that signed it
	Time time.Time `json:"time"` // when the monitor first saw it
}

// State is what the monitor keeps between checks.
type State struct {
	URL    string `json:"url"`
	Origin string `json:"origin"`
	// Key is the trusted verifier key: the one given at the start, moved
	// forward along the log's hand-overs.
	Key  string `json:"key"`
	Seen []Seen `json:"seen"`
}

// Options configure a Monitor.
type Options struct {
	// URL is the log's base: a gateway ("https://host:8470") or its
	// /log/ directory. Required.
	URL string
	// Key is the verifier key to trust. Required at the first check
	// unless the state file has one; a state's key wins over it only
	// when it descends from it by hand-overs.
	Key string
	// WitnessPolicy, if set, is a tessera witness policy whose quorum
	// must have cosigned every checkpoint; WitnessPolicyFile names a file
	// holding one. Optional.
	WitnessPolicy     []byte
	WitnessPolicyFile string
	// StateFile keeps State between runs. Optional (then in memory).
	StateFile string
	// HTTPClient fetches; http.DefaultClient if nil.
	HTTPClient *http.Client
}

// Monitor checks one log. Not safe for concurrent use.
type Monitor struct {
	opts    Options
	base    *url.URL
	fetcher *client.HTTPFetcher
	wg      *tessera.WitnessGroup
	state   State
}

// Report is the result of a successful Check.
type Report struct {
	Size   uint64
	Root   []byte
	Key    string // the key that signed it
	New    bool   // the checkpoint was not seen before
	Proven int    // earlier checkpoints proven consistent with it
}

// New returns a Monitor, loading the state file if it exists.
func New(opts Options) (*Monitor, error) {
	if opts.HTTPClient == nil {
		opts.HTTPClient = http.DefaultClient
	}
	u, err := url.Parse(strings.TrimSuffix(opts.URL, "/"))
	if err != nil || u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("log URL %q: want http(s)://host[/log/]", opts.URL)
	}
	if !strings.HasSuffix(u.Path, "/log") {
		u.Path += "/log"
	}
	u.Path += "/"
	m := &Monitor{opts: opts, base: u}
	if m.fetcher, err = client.NewHTTPFetcher(u, opts.HTTPClient); err != nil {
		return nil, err
	}
	if opts.WitnessPolicyFile != "" {
		if opts.WitnessPolicy, err = os.ReadFile(opts.WitnessPolicyFile); err != nil {
			return nil, fmt.Errorf("witness policy: %w", err)
		}
	}
	if len(opts.WitnessPolicy) > 0 {
		wg, err := tessera.NewWitnessGroupFromPolicy(opts.WitnessPolicy)
		if err != nil {
			return nil, fmt.Errorf("witness policy: %w", err)
		}
		m.wg = &wg
	}
	if opts.StateFile != "" {
		b, err := os.ReadFile(opts.StateFile)
		switch {
		case err == nil:
			if err := json.Unmarshal(b, &m.state); err != nil {
				return nil, fmt.Errorf("state file %s: %w", opts.StateFile, err)
			}
		case !errors.Is(err, fs.ErrNotExist):
			return nil, fmt.Errorf("state file: %w", err)
		}
	}
	if m.state.Key == "" {
		m.state.Key = opts.Key
	}
	if m.state.Key == "" {
		return nil, errors.New("no verifier key to trust: pass the log's key (custos audit key), as published to you")
	}
	v, err := note.NewVerifier(m.state.Key)
	if err != nil {
		return nil, fmt.Errorf("verifier key: %w", err)
	}
	if m.state.Origin == "" {
		m.state.Origin = v.Name()
	}
	m.state.URL = opts.URL
	return m, nil
}

// State returns what the monitor has seen.
func (m *Monitor) State() State { return m.state }

// Check fetches the log's checkpoint and checks it (see the package
// comment). On success the state is saved; on a *Problem it is not.
func (m *Monitor) Check(ctx context.Context) (Report, error) {
	var rep Report
	raw, err := m.fetcher.ReadCheckpoint(ctx)
	if err != nil {
		return rep, fmt.Errorf("fetch checkpoint: %w", err)
	}
	hs, err := m.history(ctx)
	if err != nil {
		return rep, err
	}
	// The key given wins over the state's: both descend along the log's
	// hand-overs, which ParseCheckpoint follows.
	trusted := m.state.Key
	if k := m.opts.Key; k != "" && k != trusted {
		if !sameChain(hs, k, trusted) {
			return rep, &Problem{Kind: ErrSignature, Detail: fmt.Sprintf("the state file trusts %s, and the key given (%s) is not in one chain of hand-overs with it: use another state file for another log", trusted, k)}
		}
		trusted = k
	}
	cp, key, err := auditlog.ParseCheckpoint(raw, m.state.Origin, trusted, hs)
	if err != nil {
		return rep, &Problem{Kind: ErrSignature, Detail: fmt.Sprintf("the checkpoint does not verify with the trusted key %s or a key it handed over to: %v\n%s", trusted, err, raw)}
	}
	rep.Size, rep.Root, rep.Key = cp.Size, cp.Hash, key
	if m.wg != nil && !m.wg.Satisfied(raw) {
		return rep, &Problem{Kind: ErrSignature, Size: cp.Size, Root: cp.Hash, Detail: "the witness policy's quorum has not cosigned it:\n" + string(raw)}
	}
	var pb *client.ProofBuilder
	rep.New = true
	for i := range m.state.Seen {
		s := &m.state.Seen[i]
		switch {
		case s.Size == cp.Size:
			if !bytes.Equal(s.Root, cp.Hash) {
				return rep, &Problem{Kind: ErrFork, Size: cp.Size, Root: cp.Hash, Seen: s, Detail: "two different trees signed at the same size"}
			}
			rep.New = false
		case s.Size > cp.Size:
			return rep, &Problem{Kind: ErrRollback, Size: cp.Size, Root: cp.Hash, Seen: s, Detail: "the log now publishes a smaller tree than one it published before"}
		case s.Size > 0:
			if pb == nil {
				if pb, err = client.NewProofBuilder(ctx, cp.Size, m.fetcher.ReadTile); err != nil {
					return rep, err
				}
			}
			pf, err := pb.ConsistencyProof(ctx, s.Size, cp.Size)
			if err != nil {
				return rep, fmt.Errorf("consistency proof %d -> %d from the tiles: %w", s.Size, cp.Size, err)
			}
			if err := proof.VerifyConsistency(rfc6962.DefaultHasher, s.Size, cp.Size, pf, s.Root, cp.Hash); err != nil {
				return rep, &Problem{Kind: ErrFork, Size: cp.Size, Root: cp.Hash, Seen: s, Detail: "no consistency proof between them: " + err.Error()}
			}
			rep.Proven++
		}
	}
	if rep.New {
		m.state.Seen = append(m.state.Seen, Seen{Size: cp.Size, Root: cp.Hash, Note: string(raw), Key: key, Time: time.Now().UTC()})
		if n := len(m.state.Seen); n > MaxSeen {
			m.state.Seen = append([]Seen(nil), m.state.Seen[n-MaxSeen:]...)
		}
	}
	m.state.Key = key
	return rep, m.save()
}

// sameChain reports whether keys a and b both appear in the hand-overs hs
// (whose signatures ParseCheckpoint checks).
func sameChain(hs []auditlog.Handover, a, b string) bool {
	in := map[string]bool{}
	for _, h := range hs {
		in[h.Old], in[h.New] = true, true
	}
	return in[a] && in[b]
}

// history fetches the key history from the trust document; none if the
// log does not publish one.
func (m *Monitor) history(ctx context.Context) ([]auditlog.Handover, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.base.String()+auditlog.TrustPath, nil)
	if err != nil {
		return nil, err
	}
	resp, err := m.opts.HTTPClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", auditlog.TrustPath, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return nil, nil
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch %s: HTTP %d", auditlog.TrustPath, resp.StatusCode)
	}
	var doc auditlog.TrustDocument
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&doc); err != nil {
		return nil, fmt.Errorf("%s: %w", auditlog.TrustPath, err)
	}
	if doc.Origin != "" && doc.Origin != m.state.Origin {
		return nil, &Problem{Kind: ErrSignature, Detail: fmt.Sprintf("the log now calls itself %q, not %q", doc.Origin, m.state.Origin)}
	}
	return doc.KeyHistory, nil
}

// save writes the state file atomically.
func (m *Monitor) save() error {
	if m.opts.StateFile == "" {
		return nil
	}
	b, err := json.MarshalIndent(m.state, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(m.opts.StateFile), ".monitor-*")
	if err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, werr := tmp.Write(append(b, '\n'))
	if err := errors.Join(werr, tmp.Sync(), tmp.Close()); err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	if err := os.Rename(tmp.Name(), m.opts.StateFile); err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	return nil
}

// Run checks every interval until ctx ends or a check finds a *Problem,
// calling report after each check. It returns the first *Problem, or
// ctx's error; fetch errors are reported and retried.
func (m *Monitor) Run(ctx context.Context, interval time.Duration, report func(Report, error)) error {
	for {
		rep, err := m.Check(ctx)
		report(rep, err)
		var p *Problem
		if errors.As(err, &p) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(interval):
		}
	}
}

// Follow checks once (once) or every interval until ctx ends, writing a
// line per good check to w. It returns the first *Problem, a failed
// check's error when once, or ctx's error.
func (m *Monitor) Follow(ctx context.Context, interval time.Duration, once bool, w io.Writer) error {
	report := func(r Report, err error) {
		if err == nil {
			fmt.Fprintf(w, "%s: checkpoint of size %d (root %x) signed by %s, consistent with %d earlier\n",
				time.Now().UTC().Format(time.RFC3339), r.Size, r.Root, r.Key, r.Proven)
		} else if !once {
			fmt.Fprintf(w, "%s: check failed: %v\n", time.Now().UTC().Format(time.RFC3339), err)
		}
	}
	if once {
		r, err := m.Check(ctx)
		report(r, err)
		return err
	}
	return m.Run(ctx, interval, report)
}
