package auditlog

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/custos-dev/custos/internal/store"
)

const crashChildEnv = "CUSTOS_AUDITLOG_CRASH_CHILD"

// TestCrashChild is the process TestKill9Recovery kills: it appends from 16
// goroutines forever and prints "ack <index> <purpose>" for every
// acknowledged Append. It does nothing in a normal test run.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashChildEnv)
	if dir == "" {
		t.Skip("helper process for TestKill9Recovery")
	}
	st := openStore(t, dir)
	l, err := Open(context.Background(), Options{Store: st, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	for g := range 16 {
		go func() {
			for i := g; ; i += 16 {
				ev := testEvent(i)
				idx, err := l.Append(context.Background(), ev)
				if err != nil {
					fmt.Fprintln(os.Stderr, "append:", err)
					os.Exit(3)
				}
				mu.Lock()
				fmt.Fprintf(os.Stdout, "ack %d %s\n", idx, ev.Purpose)
				mu.Unlock()
			}
		}()
	}
	select {}
}

// TestKill9Recovery checks what an acknowledged Append guarantees after
// kill -9: every acknowledged record is in the store with its event, and on
// restart the log integrates everything committed (acknowledged or not), a
// checkpoint covers it, and Verify passes.
func TestKill9Recovery(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a process")
	}
	dir := t.TempDir()
	for round := range 2 { // the second round kills a log that was recovered once
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+dir)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		acked := map[uint64]string{}
		sc := bufio.NewScanner(out)
		for sc.Scan() && len(acked) < 3000 {
			f := strings.Fields(sc.Text())
			if len(f) != 3 || f[0] != "ack" {
				continue
			}
			i, err := strconv.ParseUint(f[1], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			acked[i] = f[2]
		}
		cmd.Process.Kill() // SIGKILL
		cmd.Wait()
		if len(acked) < 3000 {
			t.Fatalf("round %d: child acknowledged only %d appends", round, len(acked))
		}

		st := openStore(t, dir)
		for i, purpose := range acked {
			recs, err := st.AuditRange(context.Background(), i, i+1)
			if err != nil || len(recs) != 1 {
				t.Fatalf("round %d: acknowledged record %d lost after kill -9: %v", round, i, err)
			}
			if !strings.Contains(string(recs[0].Event), `"purpose":"`+purpose+`"`) {
				t.Fatalf("round %d: record %d holds another event", round, i)
			}
		}
		size, err := st.AuditSize(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		l, err := Open(context.Background(), Options{Store: st, Dir: dir})
		if err != nil {
			t.Fatalf("round %d: reopen after kill -9: %v", round, err)
		}
		e := &env{dir: dir, store: st, log: l}
		e.waitPublished(t, size)
		if err := l.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		rep, err := Verify(context.Background(), st, dir, "")
		if err != nil {
			t.Fatalf("round %d: verify after recovery: %v", round, err)
		}
		if rep.TreeSize != size {
			t.Errorf("round %d: tree size %d, store size %d", round, rep.TreeSize, size)
		}
		st.Close()
		t.Logf("round %d: %d acknowledged, %d committed, all integrated and verified", round, len(acked), size)
	}
}

// TestRecoverCommittedRecords checks that records committed to the store
// but never integrated (a crash between the two) are integrated on Open.
func TestRecoverCommittedRecords(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, dir)
	defer st.Close()
	// An earlier life of the log that integrated 10 records.
	l, err := Open(context.Background(), Options{Store: st, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	(&env{dir: dir, store: st, log: l}).appendN(t, 0, 10)
	l.Close(context.Background())
	// Committed, then the process died before integration.
	var recs []store.AuditRecord
	for i := 10; i < 600; i++ {
		ev := testEvent(i)
		salt, _ := newSalt()
		recs = append(recs, store.AuditRecord{Time: ev.Time, Actor: ev.Actor, Customer: ev.Customer, Event: ev.Canonical(), Salt: salt})
	}
	if _, err := st.AppendAudit(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	l, err = Open(context.Background(), Options{Store: st, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{dir: dir, store: st, log: l}
	e.waitPublished(t, 600)
	p, err := l.Entry(context.Background(), 599)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Verify(l.VerifierKey()); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := Verify(context.Background(), st, dir, ""); err != nil {
		t.Fatal(err)
	}
}

// TestOpenRefusesStoreBehindLog checks that Open fails loudly when the store
// has fewer records than the tiled log (store rolled back or rows deleted).
func TestOpenRefusesStoreBehindLog(t *testing.T) {
	dir := buildLog(t, 30)
	sqlExec(t, dir, `DELETE FROM audit WHERE idx >= 20`)
	st := openStore(t, dir)
	defer st.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	l, err := Open(ctx, Options{Store: st, Dir: dir})
	if err == nil {
		l.Close(ctx)
		t.Fatal("Open accepted a store behind the log")
	}
	if !errors.Is(err, ErrInconsistent) {
		t.Fatalf("got %v, want ErrInconsistent", err)
	}
}
