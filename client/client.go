// Package client is a typed Go client for custos's HTTP API, for the store
// systems, CRMs and tools that call custos (shared/CONTRACT.md §2; the whole
// API is described in api/openapi.json).
//
//	c, err := client.New("https://custos.example.com", token, nil)
//	t, err := c.OpenTicket(ctx, client.TicketRequest{Customer: "c-0001"})
//	rec, err := c.Customer(ctx, "c-0001", client.Ticket(t.ID))
//	if errors.Is(err, client.ErrPurposeInvalid) { … }
//
// Every call takes a context and sends the client's bearer token. Error
// answers come back as *Error, which matches the contract's error codes as
// sentinels (ErrPurposeRequired, ErrQuotaExceeded, …) with errors.Is.
//
// A Client is safe for concurrent use. It holds no personal data beyond
// what a call returns, and never logs.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/custos-dev/custos/api"
	"github.com/custos-dev/custos/internal/auditlog"
	"github.com/custos-dev/custos/internal/gateway"
	"github.com/custos-dev/custos/internal/store"
)

// DefaultTimeout bounds each call when Options.HTTPClient is not set.
const DefaultTimeout = 30 * time.Second

// maxResponse caps how much of an answer the client reads.
const maxResponse = 64 << 20

// Options are the client's optional settings; nil means all defaults.
type Options struct {
	// HTTPClient sends the requests (default: a client with
	// DefaultTimeout). Use it for TLS settings, proxies and tests.
	HTTPClient *http.Client
	// UserAgent is sent with every request (default "custos-client").
	UserAgent string
}

// Client calls one custos server as one principal (or one customer, with a
// subject session token).
type Client struct {
	base  *url.URL
	token string
	hc    *http.Client
	ua    string
}

// New returns a client for the server at baseURL (e.g.
// "https://custos.example.com") authenticating with token, which may be a
// custos API token, an OIDC ID or access token the server accepts, or a
// customer's session token.
func New(baseURL, token string, opts *Options) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(baseURL, "/"))
	if err != nil {
		return nil, fmt.Errorf("client: base URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("client: base URL %q: want http(s)://host[:port]", baseURL)
	}
	c := &Client{base: u, token: token, hc: &http.Client{Timeout: DefaultTimeout}, ua: "custos-client"}
	if opts != nil {
		if opts.HTTPClient != nil {
			c.hc = opts.HTTPClient
		}
		if opts.UserAgent != "" {
			c.ua = opts.UserAgent
		}
	}
	return c, nil
}

// WithToken returns a copy of c that authenticates with token.
func (c *Client) WithToken(token string) *Client {
	d := *c
	d.token = token
	return &d
}

// Purpose is the purpose of an access, sent as the Custos-Purpose header.
// Build one with Ticket, Consent, BreakGlass or Legal; the zero Purpose
// sends none.
type Purpose struct {
	kind, id string
}

// Ticket is the purpose of an open service ticket.
func Ticket(id string) Purpose { return Purpose{"ticket", id} }

// Consent is the purpose of a consent the customer confirmed to the caller.
func Consent(id string) Purpose { return Purpose{"consent", id} }

// BreakGlass is a break-glass purpose: reason names an approved request
// ("bg-…", see RequestBreakGlass); free text alone is refused and audited.
func BreakGlass(reason string) Purpose { return Purpose{"breakglass", reason} }

// Legal is a legal or investigative request (a court order, a police case
// reference). The default policies grant nothing under it; a deployment
// that serves such requests adds a policy.
func Legal(caseRef string) Purpose { return Purpose{"legal", caseRef} }

// String returns the header value, e.g. "ticket:T-88123".
func (p Purpose) String() string {
	if p.kind == "" {
		return ""
	}
	return p.kind + ":" + p.id
}

// call sends one request and decodes a 2xx JSON answer into out (if not
// nil). body is marshalled as JSON unless it is an io.Reader.
func (c *Client) call(ctx context.Context, method, path string, purpose Purpose, body any, out any) (http.Header, error) {
	var rd io.Reader
	ctype := ""
	switch b := body.(type) {
	case nil:
	case io.Reader:
		rd, ctype = b, "text/csv"
	default:
		j, err := json.Marshal(b)
		if err != nil {
			return nil, fmt.Errorf("client: %s %s: %w", method, path, err)
		}
		rd, ctype = bytes.NewReader(j), "application/json"
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base.String()+path, rd)
	if err != nil {
		return nil, fmt.Errorf("client: %s %s: %w", method, path, err)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if p := purpose.String(); p != "" {
		req.Header.Set("Custos-Purpose", p)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.ua)
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("client: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return nil, fmt.Errorf("client: %s %s: read answer: %w", method, path, err)
	}
	if resp.StatusCode >= 300 {
		return resp.Header, decodeError(resp, b)
	}
	if out != nil {
		if raw, ok := out.(*[]byte); ok {
			*raw = b
		} else if err := json.Unmarshal(b, out); err != nil {
			return nil, fmt.Errorf("client: %s %s: decode answer: %w", method, path, err)
		}
	}
	return resp.Header, nil
}

// do is call without a purpose, decoding the answer into a T.
func do[T any](ctx context.Context, c *Client, method, path string, body any) (T, error) {
	var out T
	_, err := c.call(ctx, method, path, Purpose{}, body, &out)
	return out, err
}

func decodeError(resp *http.Response, b []byte) error {
	e := &Error{Status: resp.StatusCode}
	var body struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(b, &body) == nil && body.Error.Code != "" {
		e.Code, e.Message = body.Error.Code, body.Error.Message
	} else {
		e.Code, e.Message = "http_"+strconv.Itoa(resp.StatusCode), http.StatusText(resp.StatusCode)
	}
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s >= 0 {
		e.RetryAfter = time.Duration(s) * time.Second
	}
	e.AuditIndex, e.Audited = auditIndex(resp.Header)
	return e
}

func auditIndex(h http.Header) (uint64, bool) {
	n, err := strconv.ParseUint(h.Get("Custos-Audit-Index"), 10, 64)
	return n, err == nil
}

func esc(s string) string { return url.PathEscape(s) }

// Me is the calling principal, with their quota and status.
type Me = api.Me

// Quota is a principal's distinct-customer quota and its use.
type Quota = api.Quota

// Me returns who the caller is.
func (c *Client) Me(ctx context.Context) (Me, error) {
	return do[Me](ctx, c, http.MethodGet, "/v1/me", nil)
}

// Customer is one customer record as the caller may see it. A field the
// policy withholds is empty; Fields says each field's mode ("full",
// "masked" or "withheld").
type Customer struct {
	ID      string            `json:"id"`
	Name    string            `json:"name"`
	Phone   string            `json:"phone"`
	Account string            `json:"account"`
	Region  string            `json:"region"`
	Site    string            `json:"site"`
	Fields  map[string]string `json:"fields"`
	// AuditIndex is the audit-log entry that recorded this read.
	AuditIndex uint64 `json:"-"`
}

// Customer reads one customer record under purpose.
func (c *Client) Customer(ctx context.Context, id string, purpose Purpose) (Customer, error) {
	var v Customer
	h, err := c.call(ctx, http.MethodGet, "/v1/customers/"+esc(id), purpose, nil, &v)
	if err == nil {
		v.AuditIndex, _ = auditIndex(h)
	}
	return v, err
}

// Lookup is the key of an exact-match search: build it with Phone or
// Account.
type Lookup struct {
	Phone   *string `json:"phone,omitempty"`
	Account *string `json:"account,omitempty"`
}

// Phone looks a customer up by full phone number (E.164 or national form).
func Phone(number string) Lookup { return Lookup{Phone: &number} }

// Account looks a customer up by whole account login.
func Account(login string) Lookup { return Lookup{Account: &login} }

// Search finds at most one customer by exact phone or account, under
// purpose (which must cover the customer it resolves to).
func (c *Client) Search(ctx context.Context, key Lookup, purpose Purpose) (Customer, error) {
	var v Customer
	h, err := c.call(ctx, http.MethodPost, "/v1/customers/search", purpose, key, &v)
	if err == nil {
		v.AuditIndex, _ = auditIndex(h)
	}
	return v, err
}

// TicketRequest opens a service ticket. Site defaults to the caller's;
// ID is the CRM's own ticket id (optional: custos makes one).
type TicketRequest struct {
	Customer string `json:"customer"`
	Site     string `json:"site,omitempty"`
	ID       string `json:"id,omitempty"`
}

// TicketInfo is an opened ticket.
type TicketInfo struct {
	ID       string `json:"id"`
	Customer string `json:"customer"`
	Site     string `json:"site"`
}

// OpenTicket opens a service ticket; use Ticket(t.ID) as the purpose.
func (c *Client) OpenTicket(ctx context.Context, req TicketRequest) (TicketInfo, error) {
	return do[TicketInfo](ctx, c, http.MethodPost, "/v1/tickets", req)
}

// Pending is a one-time code on its way to a customer's phone.
type Pending struct {
	ID        string    `json:"id"`
	ExpiresAt time.Time `json:"expires_at"`
}

// StartConsent sends a one-time code to the customer's own phone. The
// answer is the same whether or not the customer exists.
func (c *Client) StartConsent(ctx context.Context, customer string) (Pending, error) {
	return do[Pending](ctx, c, http.MethodPost, "/v1/consents", map[string]string{"customer": customer})
}

// ConsentGrant is a confirmed consent: Consent(ID) is a valid purpose for
// that customer, for the caller, until GrantedUntil.
type ConsentGrant struct {
	ID           string    `json:"id"`
	Customer     string    `json:"customer"`
	GrantedUntil time.Time `json:"granted_until"`
}

// ConfirmConsent confirms consent id with the code the customer read out.
func (c *Client) ConfirmConsent(ctx context.Context, id, code string) (ConsentGrant, error) {
	return do[ConsentGrant](ctx, c, http.MethodPost, "/v1/consents/"+esc(id)+"/confirm", map[string]string{"code": code})
}

// BreakGlassRequest is a pending break-glass request.
type BreakGlassRequest struct {
	ID     string `json:"id"`
	Status string `json:"status"`
}

// RequestBreakGlass asks to read customer without a normal purpose. A
// second person must approve it (ApproveBreakGlass); then
// BreakGlass(req.ID) is the purpose. It raises an alert.
func (c *Client) RequestBreakGlass(ctx context.Context, customer, reason string) (BreakGlassRequest, error) {
	return do[BreakGlassRequest](ctx, c, http.MethodPost, "/v1/breakglass", map[string]string{"customer": customer, "reason": reason})
}

// BreakGlassApproval is an approved break-glass request.
type BreakGlassApproval struct {
	ID         string    `json:"id"`
	ApprovedBy string    `json:"approved_by"`
	ExpiresAt  time.Time `json:"expires_at"`
}

// ApproveBreakGlass approves someone else's break-glass request.
func (c *Client) ApproveBreakGlass(ctx context.Context, id string) (BreakGlassApproval, error) {
	return do[BreakGlassApproval](ctx, c, http.MethodPost, "/v1/breakglass/"+esc(id)+"/approve", nil)
}

// Suspend suspends principal id: their every call gets 423 from then on.
func (c *Client) Suspend(ctx context.Context, id, reason string) error {
	_, err := c.call(ctx, http.MethodPost, "/v1/principals/"+esc(id)+"/suspend", Purpose{}, map[string]string{"reason": reason}, nil)
	return err
}

// Reinstate lifts a suspension.
// Reinstating someone the detectors contained, or a company role, takes a
// second analyst: the first call is accepted (202) and the change waits
// for the same call by another analyst.
func (c *Client) Reinstate(ctx context.Context, id, reason string) error {
	_, err := c.call(ctx, http.MethodPost, "/v1/principals/"+esc(id)+"/reinstate", Purpose{}, map[string]string{"reason": reason}, nil)
	return err
}

// Notice records that principal id has given notice, with their last day.
func (c *Client) Notice(ctx context.Context, id string, lastDay time.Time) error {
	_, err := c.call(ctx, http.MethodPost, "/v1/principals/"+esc(id)+"/notice", Purpose{},
		map[string]string{"last_day": lastDay.Format("2006-01-02")}, nil)
	return err
}

// Alert is a detector's (or the gateway's) finding about one actor, with
// the actor's status when it was listed.
type Alert struct {
	store.Alert
	ActorStatus string `json:"actor_status"`
}

// Alerts returns up to limit alerts (0: the server's default), newest first.
func (c *Client) Alerts(ctx context.Context, limit int) ([]Alert, error) {
	path := "/v1/alerts"
	if limit > 0 {
		path += "?limit=" + strconv.Itoa(limit)
	}
	var out struct {
		Alerts []Alert `json:"alerts"`
	}
	_, err := c.call(ctx, http.MethodGet, path, Purpose{}, nil, &out)
	return out.Alerts, err
}

// Checkpoint returns the audit log's latest signed checkpoint
// (signed-note text).
func (c *Client) Checkpoint(ctx context.Context) ([]byte, error) {
	return do[[]byte](ctx, c, http.MethodGet, "/v1/audit/checkpoint", nil)
}

// Entry is one audit-log entry with its inclusion proof; Verify checks it
// offline with the log's verifier key.
type Entry = auditlog.EntryProof

// Entry returns audit-log entry index with its proof. ErrPending means it
// is durable but not yet in a published checkpoint: retry shortly.
func (c *Client) Entry(ctx context.Context, index uint64) (Entry, error) {
	return do[Entry](ctx, c, http.MethodGet, "/v1/audit/entries/"+strconv.FormatUint(index, 10), nil)
}

// Access is one access to a customer's record, as the server shows it.
type Access = gateway.AccessView

// Accesses returns every access to customer's record (with the customer's
// own session token, or as the privacy role).
func (c *Client) Accesses(ctx context.Context, customer string) ([]Access, error) {
	var out struct {
		Accesses []Access `json:"accesses"`
	}
	_, err := c.call(ctx, http.MethodGet, "/v1/subjects/"+esc(customer)+"/accesses", Purpose{}, nil, &out)
	return out.Accesses, err
}

// SubjectSession is a customer's signed-in session.
type SubjectSession struct {
	Token     string    `json:"token"`
	Customer  string    `json:"customer"`
	ExpiresAt time.Time `json:"expires_at"`
}

// SubjectLogin starts a customer's sign-in: a code goes to their phone.
// It needs no token.
func (c *Client) SubjectLogin(ctx context.Context, phone string) (Pending, error) {
	return do[Pending](ctx, c, http.MethodPost, "/v1/subjects/login", map[string]string{"phone": phone})
}

// SubjectConfirm finishes a customer's sign-in; use c.WithToken(s.Token)
// for their calls.
func (c *Client) SubjectConfirm(ctx context.Context, id, code string) (SubjectSession, error) {
	return do[SubjectSession](ctx, c, http.MethodPost, "/v1/subjects/login/"+esc(id)+"/confirm", map[string]string{"code": code})
}

// TraceReport is leak attribution's answer (as custos trace --json).
type TraceReport struct {
	Rows          int      `json:"rows"`
	Matched       int      `json:"matched"`
	NeverAccessed int      `json:"never_accessed"`
	Canaries      []string `json:"canaries"`
	Suspects      []struct {
		Actor     string  `json:"actor"`
		Org       string  `json:"org"`
		Covered   float64 `json:"covered"`
		Exclusive int     `json:"exclusive"`
		Score     float64 `json:"score"`
	} `json:"suspects"`
	Orgs []struct {
		Org     string  `json:"org"`
		Covered float64 `json:"covered"`
	} `json:"orgs"`
}

// Trace runs leak attribution on a leaked list (CSV).
func (c *Client) Trace(ctx context.Context, csv io.Reader) (TraceReport, error) {
	if csv == nil {
		return TraceReport{}, errors.New("client: trace: no CSV")
	}
	return do[TraceReport](ctx, c, http.MethodPost, "/v1/trace", csv)
}
