// Command import measures "custos import" against a raw SQLite import of
// the same file.
//
// It generates customers.csv with N synthetic customers (the contract's
// format), then, one after the other in the same run, times
//
//   - the sqlite3 command-line shell's ".import" of the file into a plain
//     table (no sealing, no indexes): the floor for getting the bytes into
//     an SQLite file, and
//   - the real custos binary's "import --customers" into a fresh data dir
//     (every row checked, sealed on all cores, blind-indexed, and the
//     lookup indexes built),
//
// each under /usr/bin/time -v, and reports wall time, peak RSS and the
// ratio. The sqlite3 shell must be installed (apt-get install sqlite3).
//
//	nice go run ./bench/import -customers 1000000
//
// With -shape it also times the sqlite3 shell building, from random bytes
// of the same sizes, the table custos builds: the same columns and row
// sizes, the id key and the three integer lookup indexes
// (blind indexes are 64-bit integers), in one WAL transaction,
// checkpointed. It seals nothing and parses nothing, so it is
// what the C library itself needs for the store's shape (custos uses
// modernc.org/sqlite, the same library translated to Go).
//
// With -upsert F it also times "import --upsert" of F changed rows into
// the loaded store, and with -keep the work directory stays for a look.
//
// With -db URL (an empty PostgreSQL database; psql must be installed) the
// baseline is psql's \copy of the file into a plain table of that
// database, and custos imports into it with --db:
//
//	nice go run ./bench/import -customers 1000000 -db postgres://postgres@127.0.0.1:5432/bench
package main

import (
	"bufio"
	"flag"
	"fmt"
	"log"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

func main() {
	n := flag.Int("customers", 1_000_000, "customers to generate")
	upsert := flag.Int("upsert", 0, "also time an --upsert of this many changed customers")
	keep := flag.Bool("keep", false, "keep the work directory")
	dir := flag.String("dir", "", "work directory (default a new temporary one)")
	shape := flag.Bool("shape", false, "also time the sqlite3 shell building custos's table and indexes from random bytes")
	db := flag.String("db", "", "PostgreSQL `url` of an empty database: measure psql \\copy and custos import --db instead")
	flag.Parse()
	log.SetFlags(0)

	work := *dir
	if work == "" {
		var err error
		if work, err = os.MkdirTemp("", "custos-bench-import-"); err != nil {
			log.Fatal(err)
		}
	}
	if !*keep {
		defer os.RemoveAll(work)
	}
	bin := filepath.Join(work, "custos")
	build := exec.Command("go", "build", "-o", bin, "./cmd/custos")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		log.Fatalf("build: %v", err)
	}
	csv := filepath.Join(work, "customers.csv")
	size, err := generate(csv, *n, 0, 0)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("customers.csv: %d customers, %.1f MB\n", *n, float64(size)/1e6)

	data := filepath.Join(work, "data")
	store := []string{"--data", data}
	var raw result
	if *db == "" {
		raw = measure("sqlite3 .import", "sqlite3", filepath.Join(work, "raw.db"),
			"-cmd", ".mode csv", "-cmd", ".import "+csv+" customers", ".quit")
	} else {
		raw = measure("psql \\copy", "psql", *db, "-q", "-c", "CREATE TABLE bench_raw (id text, name text, phone text, account text, region text, site text)",
			"-c", "\\copy bench_raw FROM '"+csv+"' CSV HEADER", "-c", "DROP TABLE bench_raw")
		store = append(store, "--db", *db)
	}
	base := []result{raw}
	if *shape && *db == "" {
		base = append(base, measure("sqlite3 same shape", "sqlite3", filepath.Join(work, "shape.db"),
			"-cmd", ".read "+writeShapeScript(work, *n), ".quit"))
	}
	imp := measure("custos import", bin, append(append([]string{"import"}, store...), "--customers", csv)...)
	fmt.Printf("\n%-22s %10s %12s %10s\n", "", "wall", "peak RSS", "CPU")
	for _, m := range append(base, imp) {
		fmt.Printf("%-22s %9.2fs %9.0f MB %9.2fs\n", m.name, m.wall.Seconds(), float64(m.rss)/1024, m.cpu.Seconds())
	}
	fmt.Printf("ratio custos/raw: %.2fx (CPU time: %.2fx)\n", imp.wall.Seconds()/raw.wall.Seconds(), imp.cpu.Seconds()/raw.cpu.Seconds())
	if len(base) > 1 {
		fmt.Printf("ratio same shape/raw: %.2fx, custos/same shape: %.2fx\n",
			base[1].wall.Seconds()/raw.wall.Seconds(), imp.wall.Seconds()/base[1].wall.Seconds())
	}

	if *upsert > 0 {
		changes := filepath.Join(work, "changes.csv")
		if _, err := generate(changes, *upsert, *n, 1); err != nil {
			log.Fatal(err)
		}
		up := measure("custos import --upsert", bin, append(append([]string{"import"}, store...), "--upsert", "--customers", changes)...)
		fmt.Printf("%-22s %9.2fs %9.0f MB (%d changed rows into %d)\n", up.name, up.wall.Seconds(), float64(up.rss)/1024, *upsert, *n)
	}
}

// writeShapeScript writes the sqlite3 script of -shape for n rows and
// returns its path. The row sizes are those of a sealed customer of the
// generated file (sealed name 35 bytes, phone 42, account 54, blind
// indexes random 64-bit integers); the settings are the import's (WAL,
// synchronous FULL, a 64 MiB cache while rows go in, index
// sorts in 8 MiB runs on two helper threads).
func writeShapeScript(work string, n int) string {
	path := filepath.Join(work, "shape.sql")
	script := fmt.Sprintf(`PRAGMA journal_mode=WAL;
PRAGMA synchronous=FULL;
PRAGMA cache_size=-65536;
CREATE TABLE customers (id TEXT PRIMARY KEY, region TEXT NOT NULL, site TEXT NOT NULL,
	name BLOB, phone BLOB, account BLOB, phone_idx INTEGER, account_idx INTEGER, name_idx INTEGER,
	canary INTEGER NOT NULL DEFAULT 0, scope TEXT NOT NULL DEFAULT '');
BEGIN;
INSERT INTO customers SELECT printf('c-%%08d', value), 'GD', printf('store-%%04d', value %% 5000),
	randomblob(35), randomblob(42), randomblob(54), random(), random(), random(), 0, ''
	FROM generate_series(0, %d);
PRAGMA threads=2;
PRAGMA cache_size=-8192;
CREATE INDEX customers_phone ON customers (phone_idx);
CREATE INDEX customers_account ON customers (account_idx);
CREATE INDEX customers_name ON customers (name_idx);
COMMIT;
PRAGMA wal_checkpoint(TRUNCATE);
`, n-1)
	if err := os.WriteFile(path, []byte(script), 0o600); err != nil {
		log.Fatal(err)
	}
	return path
}

type result struct {
	name string
	wall time.Duration
	cpu  time.Duration // user + system: less sensitive than wall to a loaded machine
	rss  int64         // KiB
}

var (
	reWall = regexp.MustCompile(`Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)`)
	reRSS  = regexp.MustCompile(`Maximum resident set size \(kbytes\): (\d+)`)
	reUser = regexp.MustCompile(`User time \(seconds\): (\S+)`)
	reSys  = regexp.MustCompile(`System time \(seconds\): (\S+)`)
)

// measure runs name under /usr/bin/time -v and reads its report.
func measure(label, name string, args ...string) result {
	cmd := exec.Command("/usr/bin/time", append([]string{"-v", name}, args...)...)
	var errb strings.Builder
	cmd.Stdout, cmd.Stderr = os.Stderr, &errb
	log.Printf("running %s ...", label)
	if err := cmd.Run(); err != nil {
		log.Fatalf("%s: %v\n%s", label, err, errb.String())
	}
	out := errb.String()
	w, r := reWall.FindStringSubmatch(out), reRSS.FindStringSubmatch(out)
	if w == nil || r == nil {
		log.Fatalf("%s: no /usr/bin/time report:\n%s", label, out)
	}
	res := result{name: label, wall: parseClock(w[1])}
	res.rss, _ = strconv.ParseInt(r[1], 10, 64)
	for _, re := range []*regexp.Regexp{reUser, reSys} {
		if m := re.FindStringSubmatch(out); m != nil {
			secs, _ := strconv.ParseFloat(m[1], 64)
			res.cpu += time.Duration(secs * float64(time.Second))
		}
	}
	return res
}

// parseClock reads "m:ss.ss" or "h:mm:ss".
func parseClock(s string) time.Duration {
	var secs float64
	for _, p := range strings.Split(s, ":") {
		f, _ := strconv.ParseFloat(p, 64)
		secs = secs*60 + f
	}
	return time.Duration(secs * float64(time.Second))
}

var (
	surnames = []string{"Li", "Wang", "Zhang", "Liu", "Chen", "Yang", "Huang", "Zhao", "Wu", "Zhou", "Xu", "Sun"}
	given    = []string{"Wei", "Fang", "Min", "Jing", "Lei", "Yan", "Jun", "Hui", "Tao", "Ping", "Xin", "Yu"}
	regions  = []string{"GD", "SH", "BJ", "ZJ", "JS", "SC", "HB", "FJ"}
)

// generate writes n customers with ids from offset; variant changes the
// phone and account so the rows replace stored ones.
func generate(path string, n, offset, variant int) (int64, error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	r := rand.New(rand.NewPCG(uint64(n), uint64(variant)))
	fmt.Fprintln(w, "id,name,phone,account,region,site")
	for i := range n {
		id := i
		if variant > 0 {
			id = i * max(offset/n, 1) % max(offset, 1) // existing customers, each once
		}
		fmt.Fprintf(w, "c-%08d,%s %s,+86139%08d,user%08d.%d@example.com,%s,store-%04d\n",
			id, surnames[r.IntN(len(surnames))], given[r.IntN(len(given))], (id*7919+variant)%100_000_000,
			id, variant, regions[r.IntN(len(regions))], r.IntN(5000))
	}
	if err := w.Flush(); err != nil {
		return 0, err
	}
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	return fi.Size(), f.Close()
}
