// Gateways that join by themselves (issue 19): on PostgreSQL the log's
// signing key lives in the database, wrapped by the master key, so a
// gateway needs the database URL and the master key and nothing else; an
// old deployment's key file is imported once; a rotation reaches running
// gateways; and an outside monitor follows the log.
package e2e

import (
	"bytes"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	et "github.com/custos-dev/custos/internal/e2etest"
	"github.com/custos-dev/custos/internal/pgtest"
)

// TestGatewaysShareLogKeyFromDatabase starts gateway A on a PostgreSQL
// deployment that still has its key file (it is imported), gateway B with
// only the master key, and checks: both publish the same signed
// checkpoints; "audit key --db" from a third directory holding only the
// master key prints the key; "keys rotate-log --db" while both run makes
// both sign with the new key; "audit verify" passes afterwards; and
// "audit monitor" follows the log across the rotation.
func TestGatewaysShareLogKeyFromDatabase(t *testing.T) {
	db := pgtest.NewDatabase(t)
	dir := t.TempDir()
	dataA, dataB, dataC := filepath.Join(dir, "a"), filepath.Join(dir, "b"), filepath.Join(dir, "c")
	importPostgres(t, db, dataA)
	// An existing deployment: the key file made by hand in A, as before.
	skey, vkey, err := note.GenerateKey(rand.Reader, "custos.local/audit")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dataA, "log-signing.key"), []byte(skey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	a := et.Start(t, dataA, "--db", db)
	for _, d := range []string{dataB, dataC} {
		copyFile(t, filepath.Join(dataA, "master.key"), filepath.Join(d, "master.key"))
	}
	b := et.Start(t, dataB, "--db", db)
	if _, err := os.Stat(filepath.Join(dataB, "log-signing.key")); err == nil {
		t.Error("gateway B wrote a key file; the key belongs in the database")
	}
	out, errOut, code := et.Run(t, "", "audit", "key", "--db", db, "--data", dataC)
	if code != 0 || strings.TrimSpace(out) != vkey {
		t.Fatalf("audit key --db from a dir with only the master key: exit %d, %q %s; want %s", code, out, errOut, vkey)
	}
	os.Remove(filepath.Join(dataC, "master.key"))
	if _, errOut, code := et.Run(t, "", "audit", "key", "--db", db, "--data", dataC); code == 0 || !strings.Contains(errOut, "master key") {
		t.Errorf("audit key --db without a master key: exit %d %s", code, errOut)
	}
	copyFile(t, filepath.Join(dataA, "master.key"), filepath.Join(dataC, "master.key"))

	// Both gateways publish the same checkpoints.
	audited(t, a, 5)
	sameCheckpoint(t, a, b, 5, vkey)

	mon := filepath.Join(dir, "monitor.json")
	if out, errOut, code := et.Run(t, "", "audit", "monitor", a.URL, "--key", vkey, "--state", mon, "--once"); code != 0 {
		t.Fatalf("audit monitor: exit %d\n%s%s", code, out, errOut)
	}

	out, errOut, code = et.Run(t, "", "keys", "rotate-log", "--db", db, "--data", dataC)
	if code != 0 {
		t.Fatalf("keys rotate-log --db with gateways running: exit %d\n%s%s", code, out, errOut)
	}
	newV := ""
	for _, line := range strings.Split(out, "\n") {
		if k, ok := strings.CutPrefix(line, "new verifier key:"); ok {
			newV = strings.TrimSpace(k)
		}
	}
	if newV == "" || newV == vkey {
		t.Fatalf("rotate-log printed no new key:\n%s", out)
	}
	audited(t, b, 5)
	_, before := published(t, a)
	sameCheckpoint(t, a, b, before+1, newV)

	if out, errOut, code := et.Run(t, "", "audit", "verify", "--db", db, "--data", dataB); code != 0 {
		t.Errorf("audit verify after the rotation: exit %d\n%s%s", code, out, errOut)
	}
	// The monitor trusts the key it started with; the hand-over published
	// under /log/ carries it to the new one.
	if out, errOut, code := et.Run(t, "", "audit", "monitor", b.URL, "--key", vkey, "--state", mon, "--once"); code != 0 {
		t.Errorf("audit monitor across the rotation: exit %d\n%s%s", code, out, errOut)
	}
}

// sameCheckpoint waits until both gateways publish a checkpoint of at
// least size entries signed by vkey, and checks that at equal sizes they
// are the same bytes.
func sameCheckpoint(t *testing.T, a, b *et.Server, size uint64, vkey string) {
	t.Helper()
	v, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	var ca, cb []byte
	waitUntil(t, 30*time.Second, "both gateways publishing one signed checkpoint", func() bool {
		var na, nb uint64
		ca, na = published(t, a)
		cb, nb = published(t, b)
		if na < size || na != nb {
			return false
		}
		_, ea := note.Open(ca, note.VerifierList(v))
		_, eb := note.Open(cb, note.VerifierList(v))
		return ea == nil && eb == nil
	})
	if !bytes.Equal(ca, cb) {
		t.Errorf("gateways publish different checkpoints at the same size:\n%s\n%s", ca, cb)
	}
}

// TestPostgresBackupRestore backs up a running PostgreSQL deployment
// (tables and wrapped keys, no key file anywhere), restores it into a new
// database and data dir with the log rebuilt and verified, serves from
// the copy with the same log key, and refuses to restore over a database
// that already holds a deployment.
func TestPostgresBackupRestore(t *testing.T) {
	db := pgtest.NewDatabase(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "a")
	importPostgres(t, db, data)
	s := et.Start(t, data, "--db", db)
	audited(t, s, 7)
	waitUntil(t, 30*time.Second, "7 entries published", func() bool { _, n := published(t, s); return n >= 7 })
	vkey, _, code := et.Run(t, "", "audit", "key", "--db", db, "--data", data)
	if code != 0 {
		t.Fatal("audit key --db failed")
	}
	file := filepath.Join(dir, "pg.tar.gz")
	out, errOut, code := et.Run(t, "", "backup", "--db", db, "--data", data, "--out", file, "--include-master-key")
	if code != 0 {
		t.Fatalf("backup --db of a running deployment: exit %d\n%s%s", code, out, errOut)
	}
	wantEntries(t, tarNames(t, file), "tables/audit.copy", "tables/meta.copy", "tables/checkpoints.copy", "master.key", "custos-backup.json")
	s.Stop(t)

	db2 := pgtest.NewDatabase(t)
	restored := filepath.Join(dir, "restored")
	out, errOut, code = et.Run(t, "", "restore", "--in", file, "--data", restored, "--db", db2)
	if code != 0 || !strings.Contains(out, "checkpoints verified") {
		t.Fatalf("restore --db: exit %d\n%s%s", code, out, errOut)
	}
	if out, errOut, code := et.Run(t, "", "audit", "verify", "--db", db2, "--data", restored); code != 0 {
		t.Errorf("audit verify of the restored deployment: exit %d\n%s%s", code, out, errOut)
	}
	r := et.Start(t, restored, "--db", db2)
	audited(t, r, 1)
	v, err := note.NewVerifier(strings.TrimSpace(vkey))
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 30*time.Second, "a checkpoint of 8 entries signed with the new key", func() bool {
		cp, n := published(t, r)
		_, err := note.Open(cp, note.VerifierList(v))
		return n >= 8 && err == nil
	})
	r.Stop(t)
	if _, errOut, code := et.Run(t, "", "restore", "--in", file, "--data", filepath.Join(dir, "again"), "--db", db2); code == 0 || !strings.Contains(errOut, "already holds") {
		t.Errorf("restore over a used database: exit %d %s", code, errOut)
	}
}
