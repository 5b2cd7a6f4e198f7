package backup

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/custos-dev/custos/internal/datadir"
)

// tarGz builds a .tar.gz with the given entries (name → content; a name
// ending in "@link" becomes a symlink to its content).
func tarGz(t testing.TB, entries [][2]string) []byte {
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, e := range entries {
		name, body := e[0], e[1]
		if n, ok := strings.CutSuffix(name, "@link"); ok {
			tw.WriteHeader(&tar.Header{Name: n, Typeflag: tar.TypeSymlink, Linkname: body})
			continue
		}
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o600, Size: int64(len(body)), Typeflag: tar.TypeReg})
		tw.Write([]byte(body))
	}
	tw.Close()
	gz.Close()
	return buf.Bytes()
}

// FuzzExtractBackup feeds arbitrary archives to restore's extractor: it
// never panics, never writes outside its directory, writes only plain
// files of mode 0600, and accepts an archive only with a valid manifest,
// a store and a signing key.
func FuzzExtractBackup(f *testing.F) {
	man := `{"format":"custos-backup/1","master_key_included":false}`
	f.Add(tarGz(f, [][2]string{{"custos.db", "db"}, {"log-signing.key", "k"}, {"custos-backup.json", man}}))
	f.Add(tarGz(f, [][2]string{{"custos.db", "db"}, {"log-signing.key", "k"}, {"policies/a.cedar", "p"}, {"custos-backup.json", man}}))
	f.Add(tarGz(f, [][2]string{{"../escape", "x"}, {"custos-backup.json", man}}))
	f.Add(tarGz(f, [][2]string{{"/etc/passwd", "x"}}))
	f.Add(tarGz(f, [][2]string{{"custos.db@link", "/etc/passwd"}}))
	f.Add(tarGz(f, [][2]string{{"policies/../../x", "x"}}))
	f.Add(tarGz(f, [][2]string{{"custos.db", "a"}, {"custos.db", "b"}}))
	f.Add(tarGz(f, [][2]string{{"custos-backup.json", `{"format":"other"}`}}))
	f.Add([]byte("not gzip"))
	f.Fuzz(func(t *testing.T, data []byte) {
		root := t.TempDir()
		dir := filepath.Join(root, "restore")
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		_, err := Extract(bytes.NewReader(data), dir)
		filepath.WalkDir(root, func(p string, d fs.DirEntry, werr error) error {
			if werr != nil || p == root || p == dir {
				return nil
			}
			rel, _ := filepath.Rel(dir, p)
			if strings.HasPrefix(rel, "..") {
				t.Fatalf("extract wrote %s outside its directory", p)
			}
			info, _ := d.Info()
			if d.IsDir() {
				return nil
			}
			if !d.Type().IsRegular() || info.Mode().Perm() != 0o600 {
				t.Fatalf("extract made %s with mode %v", rel, info.Mode())
			}
			return nil
		})
		if err == nil {
			for _, need := range []string{datadir.DBFile, "log-signing.key"} {
				if _, err := os.Stat(filepath.Join(dir, need)); err != nil {
					t.Fatalf("accepted an archive without %s", need)
				}
			}
		}
	})
}
