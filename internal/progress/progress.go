// Package progress shows the progress of long work on a terminal, and
// nothing when the output is not one (a pipe, a log file, a test).
package progress

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// File wraps f with a progress bar of its bytes on w when w is a terminal
// and f a regular file (otherwise r is f and nothing is shown). switching
// turns the bar into a spinner for the work after reading (the store
// switching the rows in); done clears it.
func File(w io.Writer, f *os.File, what string) (r io.Reader, switching func(int), done func()) {
	tty, ok := w.(*os.File)
	fi, err := f.Stat()
	if !ok || !term.IsTerminal(int(tty.Fd())) || err != nil || !fi.Mode().IsRegular() {
		return f, nil, func() {}
	}
	bar := progressbar.NewOptions64(fi.Size(), progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(what), progressbar.OptionShowBytes(true),
		progressbar.OptionThrottle(200*time.Millisecond), progressbar.OptionClearOnFinish())
	var spin *progressbar.ProgressBar
	stop := make(chan struct{})
	switching = func(rows int) {
		bar.Finish()
		spin = progressbar.NewOptions(-1, progressbar.OptionSetWriter(w),
			progressbar.OptionSetDescription(fmt.Sprintf("%d %s read; storing and indexing", rows, what)),
			progressbar.OptionSpinnerType(14), progressbar.OptionClearOnFinish())
		go func() {
			t := time.NewTicker(200 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-stop:
					return
				case <-t.C:
					spin.Add(1)
				}
			}
		}()
	}
	pr := progressbar.NewReader(f, bar)
	return &pr, switching, func() {
		close(stop)
		bar.Finish()
		if spin != nil {
			spin.Finish()
		}
	}
}
