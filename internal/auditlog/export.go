package auditlog

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	f_log "github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/tessera/api/layout"
)

// ExportRecord is one line of Options.ExportFile.
type ExportRecord struct {
	Time       time.Time `json:"time"`
	Size       uint64    `json:"size"`
	Checkpoint string    `json:"checkpoint"`
}

// exportLoop sends each newly published checkpoint to ExportFile and
// ExportURL every ExportInterval, and once more when the log closes.
func (l *Log) exportLoop() {
	defer close(l.exportDone)
	t := time.NewTicker(l.opts.ExportInterval)
	defer t.Stop()
	var fileDone, urlDone []byte // last checkpoint exported to each
	for {
		final := false
		select {
		case <-t.C:
		case <-l.bgCtx.Done():
			final = true
		}
		fileDone, urlDone = l.exportOnce(fileDone, urlDone)
		if final {
			return
		}
	}
}

func (l *Log) exportOnce(fileDone, urlDone []byte) ([]byte, []byte) {
	cp, err := os.ReadFile(filepath.Join(l.logDir, layout.CheckpointPath))
	if err != nil {
		l.log.Warn("audit log: export: reading the published checkpoint", "err", err)
		return fileDone, urlDone
	}
	if l.opts.ExportFile != "" && !bytes.Equal(cp, fileDone) {
		if err := l.exportFile(cp); err != nil {
			l.log.Error("audit log: export to file failed", "err", err)
		} else {
			fileDone = cp
		}
	}
	if l.opts.ExportURL != "" && !bytes.Equal(cp, urlDone) {
		if err := l.exportURL(cp); err != nil {
			l.log.Error("audit log: export to URL failed", "err", err)
		} else {
			urlDone = cp
		}
	}
	return fileDone, urlDone
}

func (l *Log) exportFile(cp []byte) error {
	var c f_log.Checkpoint
	if _, err := c.Unmarshal(cp); err != nil {
		return err
	}
	line, err := json.Marshal(ExportRecord{Time: time.Now().UTC(), Size: c.Size, Checkpoint: string(cp)})
	if err != nil {
		return err
	}
	f, err := os.OpenFile(l.opts.ExportFile, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(append(line, '\n')); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func (l *Log) exportURL(cp []byte) error {
	// Not tied to the log's context: the last export runs during Close.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, l.opts.ExportURL, bytes.NewReader(cp))
	if err != nil {
		return fmt.Errorf("export request: %w", err)
	}
	req.Header.Set("Content-Type", "text/plain; charset=utf-8")
	resp, err := l.opts.HTTPClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("export to %s: HTTP %d", l.opts.ExportURL, resp.StatusCode)
	}
	return nil
}

// ReadExportFile reads the checkpoints an ExportFile holds, for Verify's
// extra checkpoints.
// An empty path gives none.
func ReadExportFile(path string) ([][]byte, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out [][]byte
	for i, line := range bytes.Split(b, []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var r ExportRecord
		if err := json.Unmarshal(line, &r); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, i+1, err)
		}
		out = append(out, []byte(r.Checkpoint))
	}
	return out, nil
}
