package auditlog

import (
	"errors"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/transparency-dev/tessera/api/layout"
)

// Handler serves the log read-only as a C2SP tlog-tiles log under /log/:
// /log/checkpoint, /log/tile/<L>/<N>[.p/<W>] and /log/tile/entries/<N>[.p/<W>].
// Mount it at "/log/", directly or under http.StripPrefix("/log", …). Any other
// path, including directories and tessera's private state, is 404; methods
// other than GET and HEAD are 405.
//
// It also serves /log/custos-log.json (TrustPath): the TrustDocument.
func (l *Log) Handler() http.Handler {
	tiles := tilesHandler(l.logDir)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if (r.URL.Path == "/"+TrustPath || r.URL.Path == "/log/"+TrustPath) &&
			(r.Method == http.MethodGet || r.Method == http.MethodHead) {
			l.serveTrust(w, r)
			return
		}
		tiles.ServeHTTP(w, r)
	})
}

// tilesHandler serves the tlog-tiles resources found in dir.
func tilesHandler(dir string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		rel, ok := strings.CutPrefix(r.URL.Path, "/log/")
		if !ok {
			// Mounted under http.StripPrefix("/log", …).
			if rel, ok = strings.CutPrefix(r.URL.Path, "/"); !ok {
				http.NotFound(w, r)
				return
			}
		}
		kind, ok := resourceKind(rel)
		if !ok {
			http.NotFound(w, r)
			return
		}
		f, err := os.Open(filepath.Join(dir, filepath.FromSlash(rel)))
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				http.NotFound(w, r)
				return
			}
			http.Error(w, "cannot read log resource", http.StatusInternalServerError)
			return
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil || !fi.Mode().IsRegular() {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Access-Control-Allow-Origin", "*")
		switch kind {
		case kindCheckpoint:
			h.Set("Content-Type", "text/plain; charset=utf-8")
			h.Set("Cache-Control", "no-cache")
		case kindFull:
			h.Set("Content-Type", "application/octet-stream")
			h.Set("Cache-Control", "public, max-age=604800, immutable")
		case kindPartial:
			h.Set("Content-Type", "application/octet-stream")
			h.Set("Cache-Control", "public, max-age=60")
		}
		http.ServeContent(w, r, "", time.Time{}, f)
	})
}

type resource int

const (
	kindCheckpoint resource = iota
	kindFull                // full tile or entry bundle: immutable
	kindPartial             // partial tile or bundle
)

// resourceKind accepts exactly the tlog-tiles paths tessera writes, in their
// canonical spelling (so that temporary files and .state never match).
func resourceKind(rel string) (resource, bool) {
	if rel == layout.CheckpointPath {
		return kindCheckpoint, true
	}
	rest, ok := strings.CutPrefix(rel, "tile/")
	if !ok {
		return 0, false
	}
	if idx, ok := strings.CutPrefix(rest, "entries/"); ok {
		n, p, err := layout.ParseTileIndexPartial(idx)
		if err != nil || layout.EntriesPath(n, p) != rel {
			return 0, false
		}
		return partialKind(p), true
	}
	level, idx, ok := strings.Cut(rest, "/")
	if !ok {
		return 0, false
	}
	lv, n, p, err := layout.ParseTileLevelIndexPartial(level, idx)
	if err != nil || layout.TilePath(lv, n, p) != rel {
		return 0, false
	}
	return partialKind(p), true
}

func partialKind(p uint8) resource {
	if p > 0 {
		return kindPartial
	}
	return kindFull
}
