package demo

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/custos-dev/custos/client"
	"github.com/custos-dev/custos/internal/event"
)

// Clock is the gateway's clock during a replay: it tells simulated time
// while set, and real time after Release.
type Clock struct{ ns atomic.Int64 }

// Now returns the simulated time, or the real time once released.
func (c *Clock) Now() time.Time {
	if n := c.ns.Load(); n != 0 {
		return time.Unix(0, n).UTC()
	}
	return time.Now()
}

// Set moves simulated time to t.
func (c *Clock) Set(t time.Time) { c.ns.Store(t.UnixNano()) }

// Release returns the clock to real time.
func (c *Clock) Release() { c.ns.Store(0) }

// Codes captures the one-time codes the gateway sends, as a customer's
// phone would receive them; the replay reads them back to confirm.
type Codes struct {
	mu   sync.Mutex
	last map[string]string // phone → last code
}

// Notify records the code in text for phone.
func (c *Codes) Notify(_ context.Context, to, text string) error {
	i := strings.Index(text, "code ")
	if i < 0 {
		return nil
	}
	code := strings.TrimRight(strings.Fields(text[i+5:])[0], ".,")
	c.mu.Lock()
	if c.last == nil {
		c.last = map[string]string{}
	}
	c.last[to] = code
	c.mu.Unlock()
	return nil
}

// code returns the newest code sent to phone and forgets it, waiting (up
// to five seconds) for it to arrive: the gateway queues deliveries, so a
// code lands shortly after the consent was started.
func (c *Codes) code(phone string) string {
	for deadline := time.Now().Add(5 * time.Second); ; {
		c.mu.Lock()
		code, ok := c.last[phone]
		delete(c.last, phone)
		c.mu.Unlock()
		if ok || time.Now().After(deadline) {
			return code
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// Stats counts what the replay did.
type Stats struct {
	Events   int
	Requests int64
	ByStatus map[int]int64
}

// Replayer drives the world's events through a gateway handler.
type Replayer struct {
	World   *World
	Handler http.Handler
	Clock   *Clock
	Codes   *Codes
	// Workers is how many people's requests run at once (default 32).
	// Events run in time windows of at most Window (default 5m) of simulated
	// time, all stamped with the window's start; within a window each
	// person's events stay in order.
	Workers  int
	Window   time.Duration
	Progress func(done, total int)

	clients  map[string]*client.Client // actor → a client with their token
	mu       sync.Mutex
	tickets  map[string]bool   // ticket ids created
	consents map[string]string // scenario consent id → real consent id
	nextUse  map[string][]string
	requests atomic.Int64
	status   sync.Map // int → *atomic.Int64
}

// Run replays every event.
func (rp *Replayer) Run(ctx context.Context) (Stats, error) {
	if rp.Workers <= 0 {
		rp.Workers = 32
	}
	if rp.Window <= 0 {
		rp.Window = 5 * time.Minute
	}
	// Every call goes through the Go client, served in process by the
	// gateway's handler.
	base, err := client.New("http://custos.demo", "", &client.Options{
		HTTPClient: &http.Client{Transport: client.InProcess(rp.Handler)}, UserAgent: "custos-demo"})
	if err != nil {
		return Stats{}, err
	}
	rp.clients = map[string]*client.Client{}
	for _, p := range rp.World.Principals {
		rp.clients[p.ID] = base.WithToken(p.Token)
	}
	rp.tickets, rp.consents = map[string]bool{}, map[string]string{}
	// For each (actor, customer), the purposes of the reads to come, so a
	// search can be made under the purpose of the visit it starts.
	rp.nextUse = map[string][]string{}
	for _, ev := range rp.World.Events {
		if ev.Action == event.ActionRead && ev.Purpose != "" {
			k := ev.Actor + "\x00" + ev.Customer
			rp.nextUse[k] = append(rp.nextUse[k], ev.Purpose)
		}
	}
	evs := rp.World.Events
	total := len(evs)
	for i := 0; i < len(evs); {
		if err := ctx.Err(); err != nil {
			return rp.stats(i), err
		}
		j := i + 1
		for j < len(evs) && evs[j].Time.Sub(evs[i].Time) < rp.Window && j-i < 16*rp.Workers {
			j++
		}
		rp.Clock.Set(evs[i].Time)
		rp.window(ctx, evs[i:j])
		i = j
		if rp.Progress != nil {
			rp.Progress(i, total)
		}
	}
	return rp.stats(total), nil
}

func (rp *Replayer) stats(n int) Stats {
	s := Stats{Events: n, Requests: rp.requests.Load(), ByStatus: map[int]int64{}}
	rp.status.Range(func(k, v any) bool { s.ByStatus[k.(int)] = v.(*atomic.Int64).Load(); return true })
	return s
}

// window runs one window: each actor's events in order, actors in parallel.
func (rp *Replayer) window(ctx context.Context, evs []event.Event) {
	byActor := map[string][]event.Event{}
	var order []string
	for _, ev := range evs {
		if _, ok := byActor[ev.Actor]; !ok {
			order = append(order, ev.Actor)
		}
		byActor[ev.Actor] = append(byActor[ev.Actor], ev)
	}
	sem := make(chan struct{}, rp.Workers)
	var wg sync.WaitGroup
	for _, a := range order {
		sem <- struct{}{}
		wg.Add(1)
		go func(list []event.Event) {
			defer func() { <-sem; wg.Done() }()
			for _, ev := range list {
				rp.one(ctx, ev)
			}
		}(byActor[a])
	}
	wg.Wait()
}

// count records the status of one call: okStatus on success, the error's
// status otherwise.
func (rp *Replayer) count(okStatus int, err error) {
	status := okStatus
	var ce *client.Error
	switch {
	case errors.As(err, &ce):
		status = ce.Status
	case err != nil:
		status = 0 // transport failure
	}
	rp.requests.Add(1)
	c, _ := rp.status.LoadOrStore(status, new(atomic.Int64))
	c.(*atomic.Int64).Add(1)
}

// ensureTicket opens ticket id for customer at site (as the CRM, unless
// opener is given), once.
func (rp *Replayer) ensureTicket(ctx context.Context, opener, id, customer, site string) {
	rp.mu.Lock()
	if rp.tickets[id] {
		rp.mu.Unlock()
		return
	}
	rp.tickets[id] = true
	rp.mu.Unlock()
	if opener == "" {
		opener = "svc-crm"
	}
	_, err := rp.clients[opener].OpenTicket(ctx, client.TicketRequest{ID: id, Customer: customer, Site: site})
	rp.count(http.StatusCreated, err)
}

// ensureConsent runs the customer-present proof for a scenario consent id.
func (rp *Replayer) ensureConsent(ctx context.Context, actor, scenarioID, customer string) string {
	rp.mu.Lock()
	real, ok := rp.consents[scenarioID]
	rp.mu.Unlock()
	if ok {
		return real
	}
	cl := rp.clients[actor]
	pending, err := cl.StartConsent(ctx, customer)
	rp.count(http.StatusCreated, err)
	if err != nil {
		return ""
	}
	id := pending.ID
	c, ok := rp.World.Customer(customer)
	if !ok {
		return id
	}
	_, err = cl.ConfirmConsent(ctx, id, rp.Codes.code(c.Phone))
	rp.count(http.StatusOK, err)
	rp.mu.Lock()
	rp.consents[scenarioID] = id
	rp.mu.Unlock()
	return id
}

// purpose turns a scenario purpose into a real one, creating what it needs.
func (rp *Replayer) purpose(ctx context.Context, ev event.Event, p string) string {
	kind, id, ok := strings.Cut(p, ":")
	if !ok {
		return ""
	}
	switch kind {
	case "ticket":
		rp.ensureTicket(ctx, "", id, ev.Customer, ev.Site)
		return p
	case "consent":
		if real := rp.ensureConsent(ctx, ev.Actor, id, ev.Customer); real != "" {
			return "consent:" + real
		}
	}
	return ""
}

func (rp *Replayer) one(ctx context.Context, ev event.Event) {
	switch ev.Action {
	case event.ActionTicketCreate:
		if id, ok := strings.CutPrefix(ev.Purpose, "ticket:"); ok {
			rp.ensureTicket(ctx, ev.Actor, id, ev.Customer, ev.Site)
		}
	case event.ActionConsentConfirm:
		if id, ok := strings.CutPrefix(ev.Purpose, "consent:"); ok {
			rp.ensureConsent(ctx, ev.Actor, id, ev.Customer)
		}
	case event.ActionRead:
		p := ""
		if ev.Purpose != "" {
			rp.mu.Lock()
			k := ev.Actor + "\x00" + ev.Customer
			if q := rp.nextUse[k]; len(q) > 0 {
				rp.nextUse[k] = q[1:]
			}
			rp.mu.Unlock()
			p = rp.purpose(ctx, ev, ev.Purpose)
		}
		_, err := rp.clients[ev.Actor].Customer(ctx, ev.Customer, purposeOf(p))
		rp.count(http.StatusOK, err)
	case event.ActionSearch:
		if ev.Found != nil && !*ev.Found || ev.Customer == "" {
			// A number that is nobody's.
			_, err := rp.clients[ev.Actor].Search(ctx, client.Phone(fmt.Sprintf("+861709%07d", ev.Time.UnixNano()%10_000_000)), client.Purpose{})
			rp.count(http.StatusOK, err)
			return
		}
		c, ok := rp.World.Customer(ev.Customer)
		if !ok {
			return
		}
		p := ""
		rp.mu.Lock()
		if q := rp.nextUse[ev.Actor+"\x00"+ev.Customer]; len(q) > 0 {
			p = q[0]
		}
		rp.mu.Unlock()
		if strings.HasPrefix(p, "ticket:") {
			// The visit's ticket: the clerk opens it before looking up.
			rp.ensureTicket(ctx, ev.Actor, strings.TrimPrefix(p, "ticket:"), ev.Customer, ev.Site)
		} else if p != "" {
			p = rp.purpose(ctx, ev, p)
		}
		_, err := rp.clients[ev.Actor].Search(ctx, client.Phone(c.Phone), purposeOf(p))
		rp.count(http.StatusOK, err)
	case event.ActionNotice:
		day, err := time.Parse("2006-01-02", ev.Reason)
		if err != nil {
			day = ev.Time.AddDate(0, 0, 30)
		}
		rp.count(http.StatusOK, rp.clients["sec-analyst"].Notice(ctx, ev.Actor, day))
	}
}

// purposeOf turns "kind:id" into the client's purpose.
func purposeOf(p string) client.Purpose {
	kind, id, _ := strings.Cut(p, ":")
	switch kind {
	case "ticket":
		return client.Ticket(id)
	case "consent":
		return client.Consent(id)
	case "breakglass":
		return client.BreakGlass(id)
	}
	return client.Purpose{}
}
