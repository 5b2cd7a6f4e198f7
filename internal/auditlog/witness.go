package auditlog

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/custos-dev/custos/internal/store"
)

// AlertKindWitness is the store.Alert kind raised when a witness refuses
// to cosign a checkpoint because its view of the log differs from ours
// (a split view, or a log rolled back behind what the witness has seen).
const AlertKindWitness = "witness"

// AlertActorLog is the actor of alerts about the audit log itself (ids
// starting with "custos" are reserved for custos).
const AlertActorLog = "custos:audit-log"

// policyWitness is one "witness NAME VKEY URL" line of a witness policy.
type policyWitness struct {
	Name string `json:"name"`
	Key  string `json:"key"`
	URL  string `json:"url"`
}

// parsePolicyWitnesses returns the witnesses a tessera witness policy
// names. It does not validate the policy (tessera does).
func parsePolicyWitnesses(policy []byte) []policyWitness {
	var ws []policyWitness
	for _, line := range strings.Split(string(policy), "\n") {
		f := strings.Fields(line)
		if len(f) == 4 && f[0] == "witness" {
			ws = append(ws, policyWitness{Name: f[1], Key: f[2], URL: strings.TrimSuffix(f[3], "/")})
		}
	}
	return ws
}

// witnessWatch is an http.RoundTripper in front of the witnesses: it
// passes every request through and, when a witness refuses a checkpoint
// for a reason that means its view of the log differs from ours, logs why
// and raises an alert (once per witness and reason until the witness
// cosigns again). Everything else (a 409 with the witness's size, which
// tessera answers with a consistency proof; network errors) is tessera's
// to retry.
type witnessWatch struct {
	next      http.RoundTripper
	l         *Log
	witnesses []policyWitness

	mu      sync.Mutex
	alerted map[string]string // witness name -> last reason alerted
}

func (w *witnessWatch) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil && req.Method == http.MethodPost {
		b, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		body = b
		req.Body = io.NopCloser(bytes.NewReader(b))
	}
	resp, err := w.next.RoundTrip(req)
	if err != nil || req.Method != http.MethodPost || !strings.HasSuffix(req.URL.Path, "/add-checkpoint") {
		return resp, err
	}
	wit, ok := w.witnessFor(req.URL.String())
	if !ok {
		return resp, nil
	}
	switch resp.StatusCode {
	case http.StatusOK:
		w.mu.Lock()
		delete(w.alerted, wit.Name)
		w.mu.Unlock()
		return resp, nil
	case http.StatusUnprocessableEntity, http.StatusBadRequest, http.StatusForbidden, http.StatusNotFound:
	default:
		return resp, nil
	}
	rb, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(rb))
	w.refused(wit, resp.StatusCode, strings.TrimSpace(string(rb)), body)
	return resp, nil
}

func (w *witnessWatch) witnessFor(u string) (policyWitness, bool) {
	for _, wit := range w.witnesses {
		if strings.HasPrefix(u, wit.URL+"/") {
			return wit, true
		}
	}
	return policyWitness{}, false
}

// refused logs and alerts one refusal. req is the add-checkpoint body
// ("old N", proof lines, blank line, checkpoint).
func (w *witnessWatch) refused(wit policyWitness, status int, answer string, req []byte) {
	head, cp, _ := bytes.Cut(req, []byte("\n\n"))
	old, _, _ := strings.Cut(string(head), "\n")
	lines := strings.SplitN(string(cp), "\n", 3)
	size := ""
	if len(lines) >= 2 {
		size = lines[1]
	}
	var why string
	switch status {
	case http.StatusUnprocessableEntity:
		why = fmt.Sprintf("witness %s (%s) refused to cosign the checkpoint of size %s: the consistency proof from the tree it has already cosigned (%s) does not hold, so it has seen a different tree for this log (split view)",
			wit.Name, wit.URL, size, old)
	case http.StatusBadRequest:
		why = fmt.Sprintf("witness %s (%s) refused the checkpoint of size %s: it has cosigned a larger tree than this log now has (%s), so the log was rolled back or forked",
			wit.Name, wit.URL, size, old)
	default:
		why = fmt.Sprintf("witness %s (%s) refused the checkpoint of size %s with HTTP %d: it does not know this log or does not trust its key (register the origin and the verifier key with the witness)",
			wit.Name, wit.URL, size, status)
	}
	publishing := "the checkpoint is not published until the witness quorum cosigns (witness_fail_open is off)"
	if w.l.opts.WitnessFailOpen {
		publishing = "the checkpoint is published without this cosignature (witness_fail_open)"
	}
	w.l.log.Error("audit log: witness refused to cosign", "witness", wit.Name, "url", wit.URL, "status", status,
		"size", size, "witness_answer", answer, "why", why, "publication", publishing)
	w.l.m.witnessRefusals.Inc()
	w.mu.Lock()
	if w.alerted == nil {
		w.alerted = map[string]string{}
	}
	key := fmt.Sprint(status)
	if w.alerted[wit.Name] == key {
		w.mu.Unlock()
		return
	}
	w.alerted[wit.Name] = key
	w.mu.Unlock()
	detail, _ := json.Marshal(map[string]any{"witness": wit.Name, "url": wit.URL, "status": status, "answer": answer,
		"checkpoint": string(cp), "why": why, "fail_open": w.l.opts.WitnessFailOpen})
	a := store.Alert{Actor: AlertActorLog, Time: time.Now().UTC(), Score: 1, Kind: AlertKindWitness,
		Reasons: []string{why, publishing}, Detail: detail}
	ctx, cancel := context.WithTimeout(w.l.bgCtx, 10*time.Second)
	defer cancel()
	if _, err := w.l.st.AddAlert(ctx, a); err != nil {
		w.l.log.Error("audit log: storing witness alert", "err", err)
	}
}
