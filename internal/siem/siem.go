// Package siem exports custos's audit events and alerts to a SIEM, as OCSF
// JSON (API Activity, class 6003, for audit entries; Detection Finding,
// class 2004, for alerts), over RFC 5424 syslog on TCP or TLS and to a
// webhook signed with HMAC-SHA-256.
//
// Audit records come from the audit feed (auditlog.Feed): at once when
// this gateway commits them, by polling for other gateways' records.
// Delivery is at least once. Each sink has its own cursor in the store
// (Meta keys "siem/<sink>/audit" and "siem/<sink>/alert"), advanced only
// after the sink accepted a batch; a failed batch is retried with
// exponential backoff. After a restart export resumes at the cursor: nothing
// is lost, and at most the last unacknowledged batch is sent again (each
// record's metadata.uid lets receivers drop such duplicates). Several
// gateways sharing one database should run the exporter on one of them.
package siem

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/custos-dev/custos/internal/auditlog"
	"github.com/custos-dev/custos/internal/store"
)

// Defaults.
const (
	DefaultInterval   = 2 * time.Second
	DefaultBatch      = 200
	DefaultMinBackoff = 500 * time.Millisecond
	DefaultMaxBackoff = time.Minute
)

// Config is the [siem] table of custos's configuration file. Export is off
// unless Syslog or Webhook is set.
type Config struct {
	// Syslog is host:port of an RFC 5424 receiver over TCP. Optional.
	Syslog string `toml:"syslog"`
	// SyslogTLS connects with TLS (RFC 5425).
	SyslogTLS bool `toml:"syslog_tls"`
	// SyslogCA is a PEM file of CA certificates to trust for TLS (default:
	// the system's).
	SyslogCA string `toml:"syslog_ca"`
	// Hostname is syslog's HOSTNAME field (default: the machine's name).
	Hostname string `toml:"hostname"`
	// Webhook is a URL that receives batches as JSON arrays. Optional.
	Webhook string `toml:"webhook"`
	// WebhookSecret is the HMAC-SHA-256 key for X-Custos-Signature.
	// Required with Webhook; prefer WebhookSecretFile. Never logged.
	WebhookSecret string `toml:"webhook_secret"`
	// WebhookSecretFile holds the secret instead (trailing newline ignored).
	WebhookSecretFile string `toml:"webhook_secret_file"`
	// Interval is how often new records are looked for (default 2s).
	Interval string `toml:"interval"`
	// Backfill exports the whole existing log on first start (default
	// true); false starts at the log's current end.
	Backfill *bool `toml:"backfill"`
}

// Enabled reports whether any sink is configured.
func (c Config) Enabled() bool { return c.Syslog != "" || c.Webhook != "" }

// Validate checks c without touching the network.
func (c Config) Validate() error {
	if c.Webhook != "" && c.WebhookSecret == "" && c.WebhookSecretFile == "" {
		return errors.New("siem: webhook needs webhook_secret or webhook_secret_file")
	}
	if c.Interval != "" {
		if d, err := time.ParseDuration(c.Interval); err != nil || d <= 0 {
			return fmt.Errorf("siem: interval %q: want a positive duration such as 2s", c.Interval)
		}
	}
	return nil
}

// Sinks builds the configured sinks.
func (c Config) Sinks() ([]Sink, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	var out []Sink
	if c.Syslog != "" {
		s := &Syslog{Addr: c.Syslog, Hostname: c.Hostname}
		if s.Hostname == "" {
			s.Hostname, _ = os.Hostname()
		}
		if c.SyslogTLS {
			tc := &tls.Config{MinVersion: tls.VersionTLS12}
			if c.SyslogCA != "" {
				pem, err := os.ReadFile(c.SyslogCA)
				if err != nil {
					return nil, fmt.Errorf("siem: syslog_ca: %w", err)
				}
				pool := x509.NewCertPool()
				if !pool.AppendCertsFromPEM(pem) {
					return nil, fmt.Errorf("siem: syslog_ca %s: no PEM certificates", c.SyslogCA)
				}
				tc.RootCAs = pool
			}
			s.TLS = tc
		}
		out = append(out, s)
	}
	if c.Webhook != "" {
		secret := []byte(c.WebhookSecret)
		if c.WebhookSecretFile != "" {
			b, err := os.ReadFile(c.WebhookSecretFile)
			if err != nil {
				return nil, fmt.Errorf("siem: webhook_secret_file: %w", err)
			}
			secret = []byte(trimNewline(string(b)))
		}
		out = append(out, &Webhook{URL: c.Webhook, Secret: secret, Client: &http.Client{Timeout: 30 * time.Second}})
	}
	return out, nil
}

func trimNewline(s string) string {
	for len(s) > 0 && (s[len(s)-1] == '\n' || s[len(s)-1] == '\r') {
		s = s[:len(s)-1]
	}
	return s
}

// Exporter follows the audit log (through the audit feed) and the alerts
// (in the store) and sends them to its sinks. Set the fields, then call
// Run.
type Exporter struct {
	Store store.Store
	// Feed delivers the audit records (the audit log in a gateway); nil
	// means auditlog.StoreFeed{Store, Interval}, the store alone. Each
	// sink follows it from its own persisted cursor.
	Feed   auditlog.Feed
	Sinks  []Sink
	Logger *slog.Logger
	// Interval between looks for new alerts, and for audit records when
	// the feed does not wake the exporter sooner (default
	// DefaultInterval).
	Interval time.Duration
	// Batch is the most records per send (default DefaultBatch).
	Batch int
	// MinBackoff and MaxBackoff bound the retry delay, which doubles after
	// each failure (defaults DefaultMinBackoff, DefaultMaxBackoff).
	MinBackoff, MaxBackoff time.Duration
	// NoBackfill starts a sink without a cursor at the log's current end.
	NoBackfill bool
}

// Run exports until ctx ends; each sink runs on its own, so one that is
// down does not hold up the others. It returns ctx's error.
func (e *Exporter) Run(ctx context.Context) error {
	if e.Interval <= 0 {
		e.Interval = DefaultInterval
	}
	if e.Batch <= 0 {
		e.Batch = DefaultBatch
	}
	if e.MinBackoff <= 0 {
		e.MinBackoff = DefaultMinBackoff
	}
	if e.MaxBackoff < e.MinBackoff {
		e.MaxBackoff = max(DefaultMaxBackoff, e.MinBackoff)
	}
	if e.Logger == nil {
		e.Logger = slog.New(slog.DiscardHandler)
	}
	done := make(chan struct{}, len(e.Sinks))
	for _, s := range e.Sinks {
		go func() {
			defer func() { done <- struct{}{} }()
			e.runSink(ctx, s)
		}()
	}
	for range e.Sinks {
		<-done
	}
	for _, s := range e.Sinks {
		if c, ok := s.(interface{ Close() error }); ok {
			c.Close()
		}
	}
	return ctx.Err()
}

func auditKey(s Sink) string { return "siem/" + s.Name() + "/audit" }
func alertKey(s Sink) string { return "siem/" + s.Name() + "/alert" }

func (e *Exporter) cursor(ctx context.Context, key string, start func() (int64, error)) (int64, error) {
	v, err := e.Store.Meta(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		n, err := start()
		if err != nil {
			return 0, err
		}
		return n, e.Store.SetMeta(ctx, key, []byte(strconv.FormatInt(n, 10)))
	}
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(string(v), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("siem: cursor %s: %w", key, err)
	}
	return n, nil
}

// runSink exports to one sink until ctx ends.
func (e *Exporter) runSink(ctx context.Context, s Sink) {
	backoff := e.MinBackoff
	var x *sinkExport
	for {
		var sent int
		var err error
		if x == nil {
			x, err = e.startSink(ctx, s)
		}
		if x != nil {
			sent, err = e.step(ctx, x)
		}
		if ctx.Err() != nil {
			if x != nil {
				x.feed.Close()
			}
			return
		}
		wait := time.Duration(0) // step waited for audit records already
		switch {
		case err != nil:
			e.Logger.Warn("siem: export failed; will retry", "sink", s.Name(), "err", err, "retry_in", backoff)
			wait = backoff
			backoff = min(backoff*2, e.MaxBackoff)
		case sent > 0:
			backoff = e.MinBackoff
		default:
			backoff = e.MinBackoff
		}
		if wait > 0 {
			select {
			case <-ctx.Done():
				if x != nil {
					x.feed.Close()
				}
				return
			case <-time.After(wait):
			}
		}
	}
}

// sinkExport is one sink's export state: its feed cursor (at the sink's
// persisted audit cursor) and the records taken from it but not yet sent.
type sinkExport struct {
	sink    Sink
	feed    *auditlog.Cursor
	pending []auditlog.Record
	// The cursors as sent: a cursor whose save failed (the store was
	// unavailable) is saved before anything more is sent, and the alert
	// cursor is read from the store only once, so that a batch the sink
	// accepted is not sent again because the store could not record it.
	auditNext, alertLast   int64
	auditDirty, alertDirty bool
	alertKnown             bool
}

// saveCursors saves the cursors whose save is still owed.
func (e *Exporter) saveCursors(ctx context.Context, x *sinkExport) error {
	// What was delivered is recorded even if shutdown began meanwhile:
	// else a restart would send it again.
	ctx = context.WithoutCancel(ctx)
	if x.auditDirty {
		if err := e.Store.SetMeta(ctx, auditKey(x.sink), []byte(strconv.FormatInt(x.auditNext, 10))); err != nil {
			return fmt.Errorf("siem: save cursor: %w", err)
		}
		x.auditDirty = false
	}
	if x.alertDirty {
		if err := e.Store.SetMeta(ctx, alertKey(x.sink), []byte(strconv.FormatInt(x.alertLast, 10))); err != nil {
			return fmt.Errorf("siem: save cursor: %w", err)
		}
		x.alertDirty = false
	}
	return nil
}

// startSink reads the sink's audit cursor and follows the feed from it.
func (e *Exporter) startSink(ctx context.Context, s Sink) (*sinkExport, error) {
	next, err := e.cursor(ctx, auditKey(s), func() (int64, error) {
		if !e.NoBackfill {
			return 0, nil
		}
		n, err := e.Store.AuditSize(ctx)
		return int64(n), err
	})
	if err != nil {
		return nil, err
	}
	feed := e.Feed
	if feed == nil {
		feed = auditlog.StoreFeed{Store: e.Store, Poll: e.Interval}
	}
	c := feed.Follow(ctx, uint64(next), auditlog.FollowName("siem-"+s.Name()), auditlog.FollowBatch(e.Batch))
	return &sinkExport{sink: s, feed: c}, nil
}

// step sends at most one batch of audit records (waiting up to Interval
// for them) and one of alerts to the sink and advances its cursors. It
// returns how many records were sent.
func (e *Exporter) step(ctx context.Context, x *sinkExport) (int, error) {
	s := x.sink
	sent := 0
	if err := e.saveCursors(ctx, x); err != nil {
		return 0, err
	}
	// Audit records: the persisted cursor is the next index to send.
	if len(x.pending) == 0 {
		wctx, cancel := context.WithTimeout(ctx, e.Interval)
		recs, err := x.feed.Next(wctx)
		cancel()
		switch {
		case err == nil:
			x.pending = recs
		case wctx.Err() != nil && ctx.Err() == nil:
			// Nothing new within the interval.
		default:
			return 0, fmt.Errorf("siem: read audit: %w", err)
		}
	}
	if recs := x.pending; len(recs) > 0 {
		out := make([]Record, 0, len(recs))
		for _, r := range recs {
			rec, err := auditRecord(r)
			if err != nil {
				// A record that cannot be parsed is skipped, loudly: it must
				// not block export forever.
				e.Logger.Error("siem: skipping unreadable audit record", "index", r.Index, "err", err)
				continue
			}
			out = append(out, rec)
		}
		if len(out) > 0 {
			if err := s.Send(ctx, out); err != nil {
				return 0, err
			}
		}
		x.pending = nil
		sent += len(out)
		x.auditNext, x.auditDirty = int64(recs[len(recs)-1].Index)+1, true
		if err := e.saveCursors(ctx, x); err != nil {
			return sent, err
		}
	}

	// Alerts: cursor is the last id sent.
	if !x.alertKnown {
		lastID, err := e.cursor(ctx, alertKey(s), func() (int64, error) {
			if !e.NoBackfill {
				return 0, nil
			}
			as, err := e.Store.Alerts(ctx, 1)
			if err != nil || len(as) == 0 {
				return 0, err
			}
			return as[0].ID, nil
		})
		if err != nil {
			return sent, err
		}
		x.alertLast, x.alertKnown = lastID, true
	}
	newer, err := e.alertsAfter(ctx, x.alertLast)
	if err != nil {
		return sent, err
	}
	if len(newer) > e.Batch {
		newer = newer[:e.Batch]
	}
	if len(newer) > 0 {
		out := make([]Record, 0, len(newer))
		for _, a := range newer {
			rec, err := AlertRecord(a)
			if err != nil {
				e.Logger.Error("siem: skipping alert", "id", a.ID, "err", err)
				continue
			}
			out = append(out, rec)
		}
		if err := s.Send(ctx, out); err != nil {
			return sent, err
		}
		sent += len(out)
		x.alertLast, x.alertDirty = newer[len(newer)-1].ID, true
		if err := e.saveCursors(ctx, x); err != nil {
			return sent, err
		}
	}
	return sent, nil
}

// alertsAfter returns alerts with id > after, oldest first. The store lists
// alerts newest first, so it widens the window until it reaches after.
func (e *Exporter) alertsAfter(ctx context.Context, after int64) ([]store.Alert, error) {
	for limit := 64; ; limit *= 4 {
		as, err := e.Store.Alerts(ctx, limit)
		if err != nil {
			return nil, fmt.Errorf("siem: read alerts: %w", err)
		}
		var out []store.Alert
		reached := len(as) < limit
		for _, a := range as {
			if a.ID > after {
				out = append(out, a)
			} else {
				reached = true
			}
		}
		if reached || limit >= 1<<20 {
			slices.SortFunc(out, func(a, b store.Alert) int {
				switch {
				case a.ID < b.ID:
					return -1
				case a.ID > b.ID:
					return 1
				}
				return 0
			})
			return out, nil
		}
	}
}
