package importer

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/custos-dev/custos/internal/store"
	"github.com/custos-dev/custos/internal/vault"
)

// Options tune LoadCustomers.
type Options struct {
	// Upsert applies the file as changes to a live store: the store keeps
	// its lookup indexes and updates them row by row. Otherwise (a full
	// load) it may drop them and build them again after the load.
	Upsert bool
	// Workers is how many goroutines seal rows (default
	// defaultWorkers: one for each core but one, at least one).
	Workers int
	// Now stamps replaced blind indexes (default time.Now).
	Now func() time.Time
	// Switching, if set, is called once the whole file has been read and
	// checked, when the store starts switching the rows in (building its
	// indexes: the long quiet part of a large load). Optional.
	Switching func(rows int)
}

// Result counts what an import stored.
type Result struct {
	// Customers is the number of customer rows read; Created and Replaced
	// split them into new customers and replaced ones, and Erased counts
	// those left out because the customer was erased at their request.
	Customers, Created, Replaced, Erased int
	Principals, Tickets                  int
}

// Summary says what an import (upsert: of changes) stored, in a line.
func (r Result) Summary(upsert bool) string {
	s := fmt.Sprintf("imported %d customers, %d principals, %d tickets", r.Customers, r.Principals, r.Tickets)
	if upsert {
		s = fmt.Sprintf("applied %d customers (%d new, %d replaced), %d principals, %d tickets",
			r.Customers, r.Created, r.Replaced, r.Principals, r.Tickets)
	}
	if r.Erased > 0 {
		s += fmt.Sprintf("; %d customers left out: erased at their request, never brought back", r.Erased)
	}
	return s
}

// defaultWorkers is the number of goroutines that seal a load's rows: one
// for each core but one, which is left to the goroutine that writes the
// rows to the store (and at least one). That writer is the bottleneck (an
// SQLite store has one writer); with a worker for every core it had to
// share its core with one. On 2 cores, one worker took 6 % less wall time
// than two at 1M rows (docs/PERFORMANCE.md).
func defaultWorkers() int { return max(1, runtime.GOMAXPROCS(0)-1) }

// Sizes of the pipeline: rows per sealing job, rows per store.Add, and
// jobs in flight. The reader runs up to maxAhead jobs ahead of the store,
// so that sealing goes on while the store writes a batch;
// that bounds memory whatever the file's size (a few MB of rows).
const (
	jobRows  = 1024
	addRows  = 16384
	maxAhead = 2 * addRows / jobRows
)

// LoadCustomers streams customers.csv from r into st, sealing rows on
// Workers goroutines (the rows keep their order), and stores rest (the
// principals and tickets of the same import) with them. It is all or
// nothing: rows are staged (store.CustomerLoader) and switched in with rest
// in one transaction only after the whole file has been read and checked;
// the first bad row is reported as a *LineError naming the file
// ("customers") and its line, and then nothing has changed. A duplicate id
// is found only once the file has been read, so it is reported after a
// malformed row later in the file would have been. Memory stays bounded
// whatever the size of r.
//
// A store that is no store.CustomerLoader gets the rows in one Import
// (memory then grows with the file).
func LoadCustomers(ctx context.Context, st store.Store, v *vault.Vault, r io.Reader, rest store.Batch, opt Options) (Result, error) {
	res := Result{Principals: len(rest.Principals), Tickets: len(rest.Tickets)}
	if err := checkAssignees(ctx, st, rest); err != nil {
		return res, fmt.Errorf("import: nothing was loaded: %w", err)
	}
	loader, ok := st.(store.CustomerLoader)
	if !ok {
		cs, err := Customers(r, v)
		if err != nil {
			return res, err
		}
		rest.Customers = cs
		if err := st.Import(ctx, rest); err != nil {
			return res, fmt.Errorf("import: nothing was loaded: %w", err)
		}
		res.Customers, res.Created = len(cs), len(cs)
		return res, nil
	}
	if opt.Workers <= 0 {
		opt.Workers = defaultWorkers()
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	cr, err := newReader("customers", r, CustomerHeader)
	if err != nil {
		return res, err
	}
	cr.cr.ReuseRecord = true
	load, err := loader.LoadCustomers(ctx, store.LoadOptions{Upsert: opt.Upsert, Now: opt.Now()})
	if err != nil {
		return res, fmt.Errorf("import: nothing was loaded: %w", err)
	}
	defer load.Abort()
	n, err := stream(ctx, cr, v, opt.Workers, load)
	if err != nil {
		return res, duplicate(err)
	}
	if opt.Switching != nil {
		opt.Switching(n)
	}
	lr, err := load.Commit(ctx, rest)
	if err != nil {
		return res, duplicate(fmt.Errorf("import: nothing was loaded: %w", err))
	}
	res.Customers, res.Created, res.Replaced, res.Erased = n, lr.Created, lr.Replaced, lr.Erased
	return res, nil
}

// duplicate turns a store's *DuplicateError (a load finds repeated ids
// as it stores them, or at its end) into the *LineError of the row.
func duplicate(err error) error {
	var d *store.DuplicateError
	if errors.As(err, &d) {
		return &LineError{"customers", d.Line, fmt.Errorf("%w: duplicate id (first on line %d)", ErrBadRow, d.First)}
	}
	return err
}

// rawRow is one row as read, before it is checked.
type rawRow struct {
	f    CustomerFields
	line int
}

// job is a run of consecutive rows, sealed by one worker.
type job struct {
	rows []rawRow
	out  []store.StagedCustomer
	err  error
	done chan struct{}
}

// stream reads the rows, has them sealed in parallel and adds them to load
// in file order. It returns the number of rows.
func stream(ctx context.Context, cr *reader, v *vault.Vault, workers int, load store.CustomerLoad) (int, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	jobs := make(chan *job, maxAhead)
	order := make(chan *job, maxAhead)
	var wg sync.WaitGroup
	var readErr error
	wg.Add(1)
	go func() { // the reader: parses the CSV, in order
		defer wg.Done()
		defer close(order)
		defer close(jobs)
		readErr = readRows(ctx, cr, jobs, order)
	}()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sv := v.NewSealer()
			for j := range jobs {
				sealJob(sv, j)
			}
		}()
	}
	defer wg.Wait()

	n := 0
	buf := make([]store.StagedCustomer, 0, addRows)
	for j := range order {
		select {
		case <-j.done:
		case <-ctx.Done():
			return n, ctx.Err()
		}
		if j.err != nil {
			cancel()
			return n, j.err
		}
		buf = append(buf, j.out...)
		n += len(j.out)
		if len(buf) >= addRows {
			if err := load.Add(ctx, buf); err != nil {
				cancel()
				return n, fmt.Errorf("import: nothing was loaded: %w", err)
			}
			clear(buf)
			buf = buf[:0]
		}
	}
	wg.Wait()
	if readErr != nil {
		return n, readErr
	}
	if err := ctx.Err(); err != nil {
		return n, err
	}
	if len(buf) > 0 {
		if err := load.Add(ctx, buf); err != nil {
			return n, fmt.Errorf("import: nothing was loaded: %w", err)
		}
	}
	return n, nil
}

// readRows reads jobs of rows and hands each to the workers and, in the
// same order, to the consumer. A malformed row ends the reading with a
// job that carries its error.
func readRows(ctx context.Context, cr *reader, jobs, order chan<- *job) error {
	col := func(name string) int {
		if i, ok := cr.cols[name]; ok {
			return i
		}
		return -1
	}
	ci := [6]int{col("id"), col("name"), col("phone"), col("account"), col("region"), col("site")}
	send := func(j *job) bool {
		select {
		case order <- j:
		case <-ctx.Done():
			return false
		}
		if j.err != nil {
			close(j.done)
			return true
		}
		select {
		case jobs <- j:
			return true
		case <-ctx.Done():
			return false
		}
	}
	// fail sends the rows read so far (an earlier bad row among them is
	// reported first), then err as a job of its own.
	fail := func(j *job, err error) error {
		if len(j.rows) > 0 && !send(j) {
			return ctx.Err()
		}
		send(&job{done: make(chan struct{}), err: err})
		return nil
	}
	j := &job{done: make(chan struct{}), rows: make([]rawRow, 0, jobRows)}
	for {
		rec, err := cr.cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			line := 1
			if errors.As(err, &pe) {
				line, err = pe.Line, pe.Err
			}
			return fail(j, &LineError{cr.name, line, fmt.Errorf("%w: %v", ErrBadRow, err)})
		}
		line, _ := cr.cr.FieldPos(0)
		for _, f := range rec {
			if !utf8.ValidString(f) {
				return fail(j, &LineError{cr.name, line, fmt.Errorf("%w: not valid UTF-8", ErrBadRow)})
			}
		}
		get := func(i int) string {
			if i < 0 || i >= len(rec) {
				return ""
			}
			return rec[i]
		}
		j.rows = append(j.rows, rawRow{line: line, f: CustomerFields{ID: get(ci[0]), Name: get(ci[1]),
			Phone: get(ci[2]), Account: get(ci[3]), Region: get(ci[4]), Site: get(ci[5])}})
		if len(j.rows) == jobRows {
			if !send(j) {
				return ctx.Err()
			}
			j = &job{done: make(chan struct{}), rows: make([]rawRow, 0, jobRows)}
		}
	}
	if len(j.rows) > 0 && !send(j) {
		return ctx.Err()
	}
	return nil
}

// sealJob checks and seals a job's rows; the first bad one ends it.
func sealJob(v *vault.Sealer, j *job) {
	defer close(j.done)
	j.out = make([]store.StagedCustomer, 0, len(j.rows))
	for _, r := range j.rows {
		c, err := sealCustomer(v, r.f)
		if err != nil {
			j.err = &LineError{"customers", r.line, fmt.Errorf("%w: %s", ErrBadRow, err)}
			return
		}
		j.out = append(j.out, store.StagedCustomer{Customer: c, Line: r.line})
	}
	j.rows = nil
}
