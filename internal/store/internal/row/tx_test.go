package row

import "testing"

// TestRebind checks that the placeholders of the statements both stores
// share are numbered in order for PostgreSQL, and that a statement without
// any is left as it is.
func TestRebind(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"none", `SELECT 1`, `SELECT 1`},
		{"one", `SELECT 1 FROM t WHERE id = ?`, `SELECT 1 FROM t WHERE id = $1`},
		{"several", `INSERT INTO t (a, b, c) VALUES (?,?,?)`, `INSERT INTO t (a, b, c) VALUES ($1,$2,$3)`},
		{"last", `?`, `$1`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Rebind(tc.in); got != tc.want {
				t.Errorf("Rebind(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}
