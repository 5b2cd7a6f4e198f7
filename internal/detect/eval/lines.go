package eval

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/custos-dev/custos/internal/detect"
	"github.com/custos-dev/custos/internal/detect/scenario"
	"github.com/custos-dev/custos/internal/event"
)

// Observer is what Observe feeds: a *detect.Engine, or a wrapper around one.
type Observer interface {
	Observe(event.Event) []detect.Alert
}

// tapEngine calls before with each event, then passes it to eng.
type tapEngine struct {
	eng    *detect.Engine
	before func(*event.Event)
}

func (t *tapEngine) Observe(ev event.Event) []detect.Alert {
	t.before(&ev)
	return t.eng.Observe(ev)
}

// MaxLine bounds one event line in Observe.
const MaxLine = 1 << 20

// ErrLineTooLong is returned (wrapped, naming the line) for a line longer
// than MaxLine.
var ErrLineTooLong = errors.New("line longer than 1 MiB")

// Observe feeds every event of r (JSON lines, the contract's format;
// blank lines are skipped) to eng, in order, and passes each alert to
// emit. It stops at the first line that does not parse, with an error
// naming the line, or at the first error from emit, returned as is. It
// returns the number of events observed. Reading and parsing run in a
// second goroutine, in batches, so that the caller's goroutine only
// observes; after an early return that goroutine ends at its next line.
func Observe(ctx context.Context, r io.Reader, eng Observer, emit func(detect.Alert) error) (int, error) {
	type batch struct {
		evs []event.Event
		err error
	}
	ch := make(chan batch, 4)
	done := make(chan struct{})
	defer close(done)
	go func() {
		defer close(ch)
		br := bufio.NewReaderSize(r, 1<<20)
		p := detect.NewParser()
		line := 0
		evs := make([]event.Event, 0, 1024)
		send := func(b batch) bool {
			select {
			case ch <- b:
				return true
			case <-done:
				return false
			}
		}
		for {
			raw, err := readLine(br)
			if len(raw) > 0 || err == nil {
				line++
			}
			if len(trimSpace(raw)) > 0 {
				ev, perr := p.Parse(raw)
				if perr != nil {
					send(batch{evs: evs, err: fmt.Errorf("line %d: %w", line, perr)})
					return
				}
				evs = append(evs, ev)
				if len(evs) == cap(evs) {
					if !send(batch{evs: evs}) {
						return
					}
					evs = make([]event.Event, 0, 1024)
				}
			}
			if err == io.EOF {
				send(batch{evs: evs})
				return
			}
			if err != nil {
				send(batch{evs: evs, err: fmt.Errorf("line %d: %w", line+1, err)})
				return
			}
		}
	}()
	n := 0
	for b := range ch {
		for i := range b.evs {
			for _, a := range eng.Observe(b.evs[i]) {
				if err := emit(a); err != nil {
					return n, err
				}
			}
			n++
		}
		if b.err != nil {
			return n, b.err
		}
		if err := ctx.Err(); err != nil {
			return n, err
		}
	}
	return n, nil
}

// readLine returns the next line without its newline; err is io.EOF after
// the last line.
func readLine(br *bufio.Reader) ([]byte, error) {
	b, err := br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		buf := append([]byte(nil), b...)
		for err == bufio.ErrBufferFull {
			if len(buf) > MaxLine {
				return nil, ErrLineTooLong
			}
			b, err = br.ReadSlice('\n')
			buf = append(buf, b...)
		}
		b = buf
	}
	if err != nil && err != io.EOF {
		return nil, err
	}
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
	}
	return b, err
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t' || b[0] == '\r') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

// WriteEvents writes the events of the scenario p as JSON lines to path,
// atomically (a temporary file renamed into place), so a failure leaves
// nothing half-written.
func WriteEvents(path string, p scenario.Params) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".events-*.jsonl")
	if err != nil {
		return fmt.Errorf("write events: %w", err)
	}
	defer os.Remove(f.Name())
	w := bufio.NewWriterSize(f, 1<<20)
	var werr error
	scenario.Generate(p, func(ev event.Event) {
		if werr != nil {
			return
		}
		b := ev.Canonical()
		b = append(b, '\n')
		_, werr = w.Write(b)
	})
	if werr == nil {
		werr = w.Flush()
	}
	if werr == nil {
		werr = f.Close()
	} else {
		f.Close()
	}
	if werr != nil {
		return fmt.Errorf("write events: %w", werr)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("write events: %w", err)
	}
	return nil
}

// ErrWrite wraps a failure to write alerts (as opposed to bad input).
var ErrWrite = errors.New("write alerts")

// Detect runs eng over the events in r and writes its alerts to w as JSON
// lines: each as it fires when stream is set, otherwise all at the end, so
// that a bad line leaves w untouched. Input errors name the line; write
// errors wrap ErrWrite.
func Detect(ctx context.Context, r io.Reader, w io.Writer, eng Observer, stream bool) error {
	out := bufio.NewWriterSize(w, 64<<10)
	var pending []detect.Alert
	write := func(a detect.Alert) error {
		b, err := json.Marshal(a)
		if err == nil {
			_, err = out.Write(append(b, '\n'))
		}
		if err != nil {
			return fmt.Errorf("%w: %w", ErrWrite, err)
		}
		return nil
	}
	emit := func(a detect.Alert) error {
		if !stream {
			pending = append(pending, a)
			return nil
		}
		return write(a)
	}
	if _, err := Observe(ctx, r, eng, emit); err != nil {
		if stream {
			out.Flush()
		}
		return err
	}
	for _, a := range pending {
		if err := write(a); err != nil {
			return err
		}
	}
	if err := out.Flush(); err != nil {
		return fmt.Errorf("%w: %w", ErrWrite, err)
	}
	return nil
}
