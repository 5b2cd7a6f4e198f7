package auditlog

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	f_log "github.com/transparency-dev/formats/log"
)

// TrustPath is where, under /log/, the log publishes what an outsider
// needs to check it (TrustDocument).
const TrustPath = "custos-log.json"

// TrustFormat names TrustDocument's format.
const TrustFormat = "custos-log/1"

// TrustDocument says which key and which witnesses to check the log
// with. It is public: no secret is in it.
type TrustDocument struct {
	Format string `json:"format"`
	// Origin is the checkpoints' first line and the key's name.
	Origin string `json:"origin"`
	// VerifierKey is the key that signs checkpoints now (signed-note
	// name+hash+base64, Ed25519).
	VerifierKey string `json:"verifier_key"`
	// KeyHistory is every rotation: each hand-over is signed by both the
	// retired and the new key, and bounds the retired key to checkpoints
	// up to its size. A monitor that trusts any key in the chain can
	// follow it to the current one.
	KeyHistory []Handover `json:"key_history"`
	// Witnesses are the witnesses every published checkpoint is
	// cosigned by (cosignature/v1 keys), and WitnessPolicy the policy
	// itself (tessera's format), with its quorum. Empty without witnesses.
	Witnesses     []policyWitness `json:"witnesses"`
	WitnessPolicy string          `json:"witness_policy,omitempty"`
	// WitnessFailOpen is true if checkpoints are published even without
	// the quorum's cosignatures.
	WitnessFailOpen bool `json:"witness_fail_open"`
	// Tiles describes the layout and the entries.
	Tiles string `json:"tiles"`
}

// TrustDocument returns the log's TrustDocument.
func (l *Log) TrustDocument(ctx context.Context) (TrustDocument, error) {
	hs, err := readHistory(ctx, l.st, l.opts.Dir)
	if err != nil {
		return TrustDocument{}, err
	}
	if hs == nil {
		hs = []Handover{}
	}
	ws := parsePolicyWitnesses(l.opts.WitnessPolicy)
	if ws == nil {
		ws = []policyWitness{}
	}
	return TrustDocument{
		Format: TrustFormat, Origin: l.origin, VerifierKey: l.VerifierKey(), KeyHistory: hs,
		Witnesses: ws, WitnessPolicy: strings.TrimSpace(string(l.opts.WitnessPolicy)), WitnessFailOpen: l.opts.WitnessFailOpen,
		Tiles: "C2SP tlog-tiles (https://c2sp.org/tlog-tiles) under /log/; checkpoints are C2SP signed notes; " +
			"entry i is 33 bytes: a version byte and SHA-256 over a salted, actor-committed event (docs/AUDITLOG.md)",
	}, nil
}

func (l *Log) serveTrust(w http.ResponseWriter, r *http.Request) {
	doc, err := l.TrustDocument(r.Context())
	if err != nil {
		http.Error(w, "cannot read the key history", http.StatusInternalServerError)
		return
	}
	b, _ := json.MarshalIndent(doc, "", "  ")
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Access-Control-Allow-Origin", "*")
	if r.Method == http.MethodHead {
		return
	}
	w.Write(append(b, '\n'))
}

// ParseCheckpoint parses a checkpoint of the log named origin, trusting
// the verifier key trusted and following the key history hs (as
// TrustDocument publishes it): a checkpoint signed by any key in the
// chain of hand-overs that includes trusted is accepted, a retired key
// only up to its hand-over's size. It returns the checkpoint and the key
// that signed it.
func ParseCheckpoint(raw []byte, origin, trusted string, hs []Handover) (*f_log.Checkpoint, string, error) {
	eras, err := chainEras(hs, origin, trusted)
	if err != nil {
		return nil, "", fmt.Errorf("key history: %w", err)
	}
	cp, err := parseByEra(raw, origin, eras)
	if err != nil {
		return nil, "", err
	}
	for i := len(eras) - 1; i >= 0; i-- {
		if _, _, _, err := f_log.ParseCheckpoint(raw, origin, eras[i].v); err == nil {
			return cp, eras[i].vkey, nil
		}
	}
	return cp, trusted, nil
}
