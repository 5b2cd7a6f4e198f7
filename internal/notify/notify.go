// Package notify delivers one-time codes to customers' own phones. The
// default Outbox appends each message to a JSON-lines file (the contract's
// <data>/outbox.jsonl); Webhook posts it to an SMS or push provider.
package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"sync"
	"time"
)

// Notifier sends a text message to a phone number. Implementations MUST be
// safe for concurrent use and MUST NOT log the number or the text.
type Notifier interface {
	Notify(ctx context.Context, to, text string) error
}

// Message is one line of the outbox.
type Message struct {
	Time time.Time `json:"time"`
	To   string    `json:"to"`
	Text string    `json:"text"`
}

// Outbox appends messages to a file, one JSON object a line, synced before
// Notify returns.
type Outbox struct {
	Path string
	Now  func() time.Time

	mu sync.Mutex
}

// Notify appends the message.
func (o *Outbox) Notify(ctx context.Context, to, text string) error {
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	line, err := json.Marshal(Message{Time: now().UTC(), To: to, Text: text})
	if err != nil {
		return err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	f, err := os.OpenFile(o.Path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	_, werr := f.Write(append(line, '\n'))
	serr := f.Sync()
	cerr := f.Close()
	if werr != nil || serr != nil || cerr != nil {
		return fmt.Errorf("outbox: write failed")
	}
	return nil
}

// Webhook posts {"to":…,"text":…} as JSON to URL; a non-2xx answer is an
// error.
type Webhook struct {
	URL    string
	Client *http.Client
}

// Notify posts the message.
func (h *Webhook) Notify(ctx context.Context, to, text string) error {
	body, err := json.Marshal(map[string]string{"to": to, "text": text})
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.URL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("notify webhook: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	c := h.Client
	if c == nil {
		c = &http.Client{Timeout: 10 * time.Second}
	}
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("notify webhook: request failed")
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("notify webhook: status %d", resp.StatusCode)
	}
	return nil
}

// Tee returns a Notifier that sends each message to a, then to b.
func Tee(a, b Notifier) Notifier { return tee{a, b} }

type tee struct{ a, b Notifier }

func (t tee) Notify(ctx context.Context, to, text string) error {
	if err := t.a.Notify(ctx, to, text); err != nil {
		return err
	}
	return t.b.Notify(ctx, to, text)
}
