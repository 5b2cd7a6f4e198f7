package siem

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Sink is one destination. Send MUST return nil only once every record is
// accepted by the destination (written to its connection, or answered 2xx):
// the exporter's cursor moves only then.
type Sink interface {
	// Name identifies the sink in cursors and logs ("syslog", "webhook").
	Name() string
	Send(ctx context.Context, recs []Record) error
}

// Syslog sends records as RFC 5424 messages over TCP, or TLS (RFC 5425),
// with octet-counting framing (RFC 6587 §3.4.1). The message is the OCSF
// JSON. Facility is 13 (log audit).
type Syslog struct {
	// Addr is host:port of the receiver.
	Addr string
	// TLS, when set, is used to connect (RFC 5425).
	TLS *tls.Config
	// Hostname is the HOSTNAME field ("-" when empty).
	Hostname string
	// DialTimeout bounds connecting (default 10 s).
	DialTimeout time.Duration

	mu   sync.Mutex
	conn net.Conn
}

// Facility is the syslog facility custos uses (13: log audit).
const Facility = 13

func (s *Syslog) Name() string { return "syslog" }

// Format returns rec as one RFC 5424 message (without framing).
func (s *Syslog) Format(rec Record) []byte {
	host := s.Hostname
	if host == "" {
		host = "-"
	}
	msgid := rec.Kind
	if msgid == "" {
		msgid = "-"
	}
	// PRI VERSION SP TIMESTAMP SP HOSTNAME SP APP-NAME SP PROCID SP MSGID SP SD SP MSG
	var b bytes.Buffer
	fmt.Fprintf(&b, "<%d>1 %s %s custos - %s [origin software=\"custos\"][custos@32473 uid=\"%s\"] ",
		Facility*8+rec.Severity, rec.Time.UTC().Format("2006-01-02T15:04:05.000000Z07:00"), host, msgid, rec.UID)
	b.Write(rec.OCSF)
	return b.Bytes()
}

func (s *Syslog) dial(ctx context.Context) (net.Conn, error) {
	to := s.DialTimeout
	if to == 0 {
		to = 10 * time.Second
	}
	d := &net.Dialer{Timeout: to}
	if s.TLS != nil {
		td := &tls.Dialer{NetDialer: d, Config: s.TLS}
		return td.DialContext(ctx, "tcp", s.Addr)
	}
	return d.DialContext(ctx, "tcp", s.Addr)
}

// Send writes recs on the (re-established) connection. On any error the
// connection is dropped and the whole batch will be sent again.
func (s *Syslog) Send(ctx context.Context, recs []Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn == nil {
		c, err := s.dial(ctx)
		if err != nil {
			return fmt.Errorf("syslog: connect %s: %w", s.Addr, err)
		}
		s.conn = c
	}
	var buf bytes.Buffer
	for _, r := range recs {
		m := s.Format(r)
		buf.WriteString(strconv.Itoa(len(m)))
		buf.WriteByte(' ')
		buf.Write(m)
	}
	if dl, ok := ctx.Deadline(); ok {
		s.conn.SetWriteDeadline(dl)
	} else {
		s.conn.SetWriteDeadline(time.Now().Add(30 * time.Second))
	}
	if _, err := s.conn.Write(buf.Bytes()); err != nil {
		s.conn.Close()
		s.conn = nil
		return fmt.Errorf("syslog: write: %w", err)
	}
	return nil
}

// Close closes the connection.
func (s *Syslog) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn == nil {
		return nil
	}
	err := s.conn.Close()
	s.conn = nil
	return err
}

// SignatureHeader carries the webhook body's HMAC-SHA-256 under the shared
// secret: "sha256=<hex>".
const SignatureHeader = "X-Custos-Signature"

// Sign returns the SignatureHeader value for body under secret.
func Sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Verify reports whether sig is body's signature under secret (constant
// time). Receivers use it.
func Verify(secret, body []byte, sig string) bool {
	return hmac.Equal([]byte(sig), []byte(Sign(secret, body)))
}

// Webhook POSTs each batch as a JSON array of OCSF events, signed with
// HMAC-SHA-256 (SignatureHeader). Any answer but 2xx is a failure, retried
// by the exporter with backoff.
type Webhook struct {
	URL    string
	Secret []byte
	// Client sends the requests (default: 30 s timeout).
	Client *http.Client
}

func (w *Webhook) Name() string { return "webhook" }

// Body returns the batch body: a JSON array of the records' OCSF events.
func Body(recs []Record) []byte {
	var b bytes.Buffer
	b.WriteByte('[')
	for i, r := range recs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(r.OCSF)
	}
	b.WriteByte(']')
	return b.Bytes()
}

func (w *Webhook) Send(ctx context.Context, recs []Record) error {
	body := Body(recs)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(SignatureHeader, Sign(w.Secret, body))
	req.Header.Set("User-Agent", "custos-siem")
	hc := w.Client
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("webhook: answered %d", resp.StatusCode)
	}
	return nil
}
