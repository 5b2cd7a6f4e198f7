package siem

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"io"
	"math/big"
	"net"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/custos-dev/custos/internal/event"
	"github.com/custos-dev/custos/internal/store"
	"github.com/custos-dev/custos/internal/store/sqlite"
)

func rec(t *testing.T, idx uint64, ev event.Event) store.AuditRecord {
	t.Helper()
	return store.AuditRecord{Index: idx, Time: ev.Time, Actor: ev.Actor, Event: ev.Canonical()}
}

// TestAuditRecordOCSF checks the API Activity mapping of allow and deny
// decisions.
func TestAuditRecordOCSF(t *testing.T) {
	now := time.Date(2026, 3, 2, 9, 14, 5, 0, time.UTC)
	cases := []struct {
		name     string
		ev       event.Event
		activity int
		status   int
		severity int
	}{
		{"read allowed", event.Event{Time: now, Actor: "emp-1", Org: "dist-1", Role: "store_clerk", Site: "store-1", Action: event.ActionRead, Customer: "c-1", Decision: event.Allow}, 2, 1, 6},
		{"read denied", event.Event{Time: now, Actor: "emp-1", Action: event.ActionRead, Customer: "c-1", Decision: event.Deny, Reason: "purpose_required"}, 2, 2, 5},
		{"ticket", event.Event{Time: now, Actor: "emp-1", Action: event.ActionTicketCreate, Decision: event.Allow}, 1, 1, 6},
		{"suspend", event.Event{Time: now, Actor: "sec-1", Action: event.ActionSuspend, Target: "emp-1", Decision: event.Allow}, 3, 1, 6},
		{"canary", event.Event{Time: now, Actor: "emp-1", Action: event.ActionRead, Customer: "c-9", Canary: true, Decision: event.Allow}, 2, 1, 4},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := AuditRecord(rec(t, uint64(i), tc.ev))
			if err != nil {
				t.Fatal(err)
			}
			var m map[string]any
			if err := json.Unmarshal(r.OCSF, &m); err != nil {
				t.Fatal(err)
			}
			if m["class_uid"] != float64(ClassAPIActivity) || m["activity_id"] != float64(tc.activity) ||
				m["type_uid"] != float64(ClassAPIActivity*100+tc.activity) || m["status_id"] != float64(tc.status) {
				t.Errorf("OCSF %s", r.OCSF)
			}
			if m["time"] != float64(now.UnixMilli()) || r.Severity != tc.severity || r.Kind != "audit" {
				t.Errorf("time %v severity %d kind %s", m["time"], r.Severity, r.Kind)
			}
			md := m["metadata"].(map[string]any)
			if md["uid"] != r.UID || md["version"] != OCSFVersion {
				t.Errorf("metadata %v", md)
			}
			if tc.status == 2 && m["status_detail"] != tc.ev.Reason {
				t.Errorf("status_detail %v", m["status_detail"])
			}
		})
	}
	if _, err := AuditRecord(store.AuditRecord{Index: 1, Event: []byte("{")}); err == nil {
		t.Error("unreadable record accepted")
	}
}

func TestAlertRecordOCSF(t *testing.T) {
	for _, tc := range []struct {
		score float64
		sev   int
	}{{0.97, 5}, {0.85, 4}, {0.5, 3}, {0.1, 2}} {
		r, err := AlertRecord(store.Alert{ID: 7, Actor: "emp-1", Time: time.Unix(100, 0), Score: tc.score, Reasons: []string{"reads 14x peer median"}, Kind: "volume"})
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		json.Unmarshal(r.OCSF, &m)
		fi := m["finding_info"].(map[string]any)
		if m["class_uid"] != float64(ClassDetectionFinding) || m["severity_id"] != float64(tc.sev) || fi["uid"] != "custos-alert-7" || r.UID != "custos-alert-7" {
			t.Errorf("score %v: %s", tc.score, r.OCSF)
		}
	}
}

// TestSyslogFormat checks the RFC 5424 header.
func TestSyslogFormat(t *testing.T) {
	s := &Syslog{Hostname: "gw-1"}
	m := s.Format(Record{UID: "custos-audit-3", Kind: "audit", Time: time.Date(2026, 3, 2, 9, 14, 5, 123000000, time.UTC), Severity: 5, OCSF: []byte(`{"a":1}`)})
	want := `<109>1 2026-03-02T09:14:05.123000Z gw-1 custos - audit [origin software="custos"][custos@32473 uid="custos-audit-3"] {"a":1}`
	if string(m) != want {
		t.Errorf("got  %s\nwant %s", m, want)
	}
	if !regexp.MustCompile(`^<\d+>1 \S+ \S+ \S+ \S+ \S+ `).Match(s.Format(Record{Time: time.Now()})) {
		t.Error("empty record: malformed header")
	}
}

// FuzzSign: a signature verifies for its body and secret only.
func FuzzSign(f *testing.F) {
	f.Add([]byte("k"), []byte(`[{"a":1}]`))
	f.Fuzz(func(t *testing.T, secret, body []byte) {
		sig := Sign(secret, body)
		if !Verify(secret, body, sig) {
			t.Fatal("own signature rejected")
		}
		if Verify(secret, append(body, 'x'), sig) {
			t.Fatal("signature verifies another body")
		}
	})
}

// flakySink accepts batches after failing the first few, recording what
// it accepted.
type flakySink struct {
	mu    sync.Mutex
	fail  int
	calls int
	got   map[string]int
}

func (s *flakySink) Name() string { return "test" }

// delivered returns how many distinct records the sink accepted.
func (s *flakySink) delivered() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.got)
}

// checkOnce checks that the sink accepted want distinct records (audit
// records and alerts), each exactly once.
func (s *flakySink) checkOnce(t *testing.T, want int) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.got) != want {
		t.Fatalf("delivered %d distinct items, want %d (audit records and an alert)", len(s.got), want)
	}
	for uid, n := range s.got {
		if n != 1 {
			t.Errorf("%s delivered %d times", uid, n)
		}
	}
}

func (s *flakySink) Send(ctx context.Context, recs []Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if s.calls <= s.fail {
		return errors.New("receiver down")
	}
	for _, r := range recs {
		s.got[r.UID]++
	}
	return nil
}

// TestExporterResumes: with a real store, export survives a failing sink
// (backoff) and a restart resumes at the cursor without repeats.
func TestExporterResumes(t *testing.T) {
	st := exportStore(t, 25)
	sink := &flakySink{fail: 2, got: map[string]int{}}
	run := func(want int) {
		exportUntil(testExporter(st, sink), 5*time.Second, func() bool { return sink.delivered() >= want })
	}
	run(26)
	appendReads(t, st, 5)
	run(31)
	sink.checkOnce(t, 31)
}

// exportStore opens a SQLite store holding n audit records of reads and
// one alert, closed at cleanup.
func exportStore(t *testing.T, n int) *sqlite.Store {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "custos.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	appendReads(t, st, n)
	st.AddAlert(ctx, store.Alert{Actor: "emp-1", Time: time.Now(), Score: 0.9, Kind: "volume"})
	return st
}

// appendReads appends n audit records of allowed reads to st.
func appendReads(t *testing.T, st store.Store, n int) {
	t.Helper()
	for range n {
		ev := event.Event{Time: time.Now(), Actor: "emp-1", Action: event.ActionRead, Decision: event.Allow}
		if _, err := st.AppendAudit(t.Context(), []store.AuditRecord{{Time: ev.Time, Actor: ev.Actor, Event: ev.Canonical(), Salt: []byte("s")}}); err != nil {
			t.Fatal(err)
		}
	}
}

// testExporter exports st to sink with short intervals and backoffs.
func testExporter(st store.Store, sink Sink) *Exporter {
	return &Exporter{Store: st, Sinks: []Sink{sink}, Interval: 10 * time.Millisecond, Batch: 10, MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond}
}

// exportUntil runs x until cond holds or limit passes, and returns once
// x has stopped.
func exportUntil(x *Exporter, limit time.Duration, cond func() bool) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { x.Run(ctx); close(done) }()
	for deadline := time.Now().Add(limit); !cond() && time.Now().Before(deadline); {
		time.Sleep(2 * time.Millisecond)
	}
	cancel()
	<-done
}

// selfSigned returns a TLS certificate for 127.0.0.1 and a pool trusting it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "siem"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}

// TestSyslogTLS sends over TLS (RFC 5425) to a listener whose certificate
// the sink must verify, with octet-counted frames.
func TestSyslogTLS(t *testing.T) {
	cert, pool := selfSigned(t)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan string, 2)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					n, err := br.ReadString(' ')
					if err != nil {
						return
					}
					l, _ := strconv.Atoi(strings.TrimSpace(n))
					buf := make([]byte, l)
					io.ReadFull(br, buf)
					got <- string(buf)
				}
			}()
		}
	}()
	ctx := context.Background()
	recs := []Record{{UID: "custos-audit-0", Kind: "audit", Time: time.Now(), Severity: 6, OCSF: []byte(`{"x":1}`)},
		{UID: "custos-audit-1", Kind: "audit", Time: time.Now(), Severity: 5, OCSF: []byte(`{"x":2}`)}}
	untrusted := &Syslog{Addr: ln.Addr().String(), TLS: &tls.Config{RootCAs: x509.NewCertPool()}}
	if err := untrusted.Send(ctx, recs); err == nil {
		t.Fatal("sent to a receiver whose certificate is not trusted")
	}
	s := &Syslog{Addr: ln.Addr().String(), TLS: &tls.Config{RootCAs: pool}, Hostname: "gw"}
	defer s.Close()
	if err := s.Send(ctx, recs); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`uid="custos-audit-0"] {"x":1}`, `uid="custos-audit-1"] {"x":2}`} {
		select {
		case m := <-got:
			if !strings.HasSuffix(m, want) || !strings.HasPrefix(m, "<") {
				t.Errorf("frame %q, want suffix %q", m, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no frame")
		}
	}
}
