package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/custos-dev/custos/internal/detect"
	"github.com/custos-dev/custos/internal/event"
)

const detectUsage = `Usage: custos detect [--events F.jsonl] [--json] [--stream] [--utc-offset D] [--sensitivity S]

Reads access events (JSON lines, the contract's format; stdin when no file),
runs the same detectors as the server and writes alerts as JSON lines to
stdout. A bad line stops it with one error naming the line (exit 2), and then
nothing is written to stdout unless --stream was given.

Flags:
`

// cmdDetect runs the detectors offline over a file of events.
func cmdDetect(ctx context.Context, env *Env, args []string) int {
	fs := flag.NewFlagSet("detect", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), detectUsage)
		fs.PrintDefaults()
	}
	file := fs.String("events", "", "events file (JSON lines); stdin when empty or \"-\"")
	_ = fs.Bool("json", true, "write alerts as JSON lines (the default and only format)")
	stream := fs.Bool("stream", false, "write each alert as it fires instead of all at the end")
	offset := fs.Duration("utc-offset", 0, "local time offset from UTC for days and hours, e.g. 8h")
	sens := fs.Float64("sensitivity", 1, "threshold multiplier: below 1 fires sooner, above 1 later")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(env.Stderr, "custos detect: unexpected argument %q (events go in --events F or stdin)\n", fs.Arg(0))
		return exitUsage
	}
	cfg := detect.DefaultConfig()
	cfg.UTCOffset = *offset
	cfg.Sensitivity = *sens
	if err := cfg.Validate(); err != nil {
		fmt.Fprintf(env.Stderr, "custos detect: %v\n", err)
		return exitUsage
	}
	in := env.Stdin
	if *file != "" && *file != "-" {
		f, err := os.Open(*file)
		if err != nil {
			fmt.Fprintf(env.Stderr, "custos detect: %v\n", err)
			return exitUsage
		}
		defer f.Close()
		in = f
	}
	out := bufio.NewWriterSize(env.Stdout, 64<<10)
	var pending []detect.Alert
	emit := func(a detect.Alert) error {
		if !*stream {
			pending = append(pending, a)
			return nil
		}
		return writeAlert(out, a)
	}
	eng := detect.New(cfg)
	n, err := runDetect(ctx, in, eng, emit)
	if err != nil {
		if *stream {
			out.Flush()
		}
		fmt.Fprintf(env.Stderr, "custos detect: %v\n", err)
		if errors.Is(err, errWrite) {
			return exitFail
		}
		return exitUsage
	}
	for _, a := range pending {
		if err := writeAlert(out, a); err != nil {
			fmt.Fprintf(env.Stderr, "custos detect: write alerts: %v\n", err)
			return exitFail
		}
	}
	if err := out.Flush(); err != nil {
		fmt.Fprintf(env.Stderr, "custos detect: write alerts: %v\n", err)
		return exitFail
	}
	_ = n
	return exitOK
}

var errWrite = errors.New("write alerts")

func writeAlert(w *bufio.Writer, a detect.Alert) error {
	b, err := json.Marshal(a)
	if err != nil {
		return fmt.Errorf("%w: %w", errWrite, err)
	}
	b = append(b, '\n')
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("%w: %w", errWrite, err)
	}
	return nil
}

// runDetect feeds every line of r to eng and passes alerts to emit. It
// returns the number of events read. Blank lines are skipped. Reading and
// parsing run in a second goroutine, in batches, so the engine's goroutine
// only observes.
func runDetect(ctx context.Context, r io.Reader, eng *detect.Engine, emit func(detect.Alert) error) (int, error) {
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

// maxLine bounds one event line.
const maxLine = 1 << 20

var errLineTooLong = errors.New("line longer than 1 MiB")

// readLine returns the next line without its newline; err is io.EOF after
// the last line.
func readLine(br *bufio.Reader) ([]byte, error) {
	b, err := br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		buf := append([]byte(nil), b...)
		for err == bufio.ErrBufferFull {
			if len(buf) > maxLine {
				return nil, errLineTooLong
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
