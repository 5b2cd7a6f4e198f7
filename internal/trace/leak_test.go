package trace

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

// TestParseLeakForms checks each messy form a leaked list arrives in: every
// case must yield the same normalised rows as the clean file.
func TestParseLeakForms(t *testing.T) {
	want := []Row{
		{ID: "c-0000001", Phone: "+8613800138000", Account: "li.wei@example.com", Name: "li wei"},
		{ID: "c-0000002", Phone: "+8613900139001", Account: "wang@example.cn", Name: "王芳"},
	}
	tests := []struct {
		name string
		in   string
	}{
		{"clean", "id,phone,account,name\nc-0000001,+8613800138000,li.wei@example.com,li wei\nc-0000002,+8613900139001,wang@example.cn,王芳\n"},
		{"bom and crlf", "\ufeffid,phone,account,name\r\nc-0000001,+8613800138000,li.wei@example.com,li wei\r\nc-0000002,+8613900139001,wang@example.cn,王芳\r\n"},
		{"header case spaces order extra", " Name , EXTRA, Account ,Phone,  ID \nli wei,x,li.wei@example.com,+8613800138000,c-0000001\n王芳,y,wang@example.cn,+8613900139001,c-0000002\n"},
		{"stray spaces", "id,phone,account,name\n  c-0000001 , +8613800138000 ,  li.wei@example.com,  Li   Wei \nc-0000002\t, +8613900139001,wang@example.cn ,王芳\n"},
		{"no plus", "id,phone,account,name\nc-0000001,8613800138000,li.wei@example.com,li wei\nc-0000002,8613900139001,wang@example.cn,王芳\n"},
		{"national", "id,phone,account,name\nc-0000001,13800138000,li.wei@example.com,li wei\nc-0000002,139 0013 9001,wang@example.cn,王芳\n"},
		{"spaces and dashes", "id,phone,account,name\nc-0000001,+86 138-0013-8000,li.wei@example.com,li wei\nc-0000002,(+86) 139.0013.9001,wang@example.cn,王芳\n"},
		{"double zero prefix", "id,phone,account,name\nc-0000001,0086 13800138000,li.wei@example.com,li wei\nc-0000002,008613900139001,wang@example.cn,王芳\n"},
		{"excel text marker and tel", "id,phone,account,name\nc-0000001,'13800138000,li.wei@example.com,li wei\nc-0000002,tel:+8613900139001,wang@example.cn,王芳\n"},
		{"full width", "id,phone,account,name\nc-0000001,＋８６１３８００１３８０００,ＬＩ.ＷＥＩ＠ＥＸＡＭＰＬＥ.ＣＯＭ,li wei\nc-0000002,+8613900139001,wang@example.cn,王芳\n"},
		{"account case and mailto", "id,phone,account,name\nc-0000001,+8613800138000,Li.Wei@Example.COM,li wei\nc-0000002,+8613900139001,mailto:WANG@example.cn,王芳\n"},
		{"semicolon", "id;phone;account;name\nc-0000001;+8613800138000;li.wei@example.com;li wei\nc-0000002;+8613900139001;wang@example.cn;王芳\n"},
		{"tab", "id\tphone\taccount\tname\nc-0000001\t+8613800138000\tli.wei@example.com\tli wei\nc-0000002\t+8613900139001\twang@example.cn\t王芳\n"},
		{"quoted", "\"id\",\"phone\",\"account\",\"name\"\n\"c-0000001\",\"+86 138 0013 8000\",\"li.wei@example.com\",\"Li Wei\"\n\"c-0000002\",\"+8613900139001\",\"wang@example.cn\",\"王芳\"\n"},
		{"blank lines and blank rows", "id,phone,account,name\n\nc-0000001,+8613800138000,li.wei@example.com,li wei\n,,,\n  , ,\nc-0000002,+8613900139001,wang@example.cn,王芳\n\n"},
		{"no final newline", "id,phone,account,name\nc-0000001,+8613800138000,li.wei@example.com,li wei\nc-0000002,+8613900139001,wang@example.cn,王芳"},
		{"aliases", "customer_id,Mobile,E-mail,full name\nc-0000001,+8613800138000,li.wei@example.com,li wei\nc-0000002,+8613900139001,wang@example.cn,王芳\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			leak, err := ParseLeak(strings.NewReader(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if leak.Invalid != 0 {
				t.Errorf("Invalid = %d, want 0", leak.Invalid)
			}
			if got := stripLines(leak.Rows); !reflect.DeepEqual(got, want) {
				t.Errorf("rows\n got %+v\nwant %+v", got, want)
			}
			if len(leak.Columns) != 4 {
				t.Errorf("columns = %v", leak.Columns)
			}
		})
	}
}

func stripLines(rows []Row) []Row {
	out := make([]Row, len(rows))
	for i, r := range rows {
		r.Line = 0
		out[i] = r
	}
	return out
}

// TestParseLeakPartial checks files with only some columns, ragged rows,
// duplicates and bad cells.
func TestParseLeakPartial(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		cols    []string
		rows    []Row
		invalid int
	}{
		{
			name: "phone only with duplicates",
			in:   "phone\n13800138000\n+86 138 0013 8000\n8613800138000\n",
			cols: []string{"phone"},
			rows: []Row{{Line: 2, Phone: "+8613800138000"}, {Line: 3, Phone: "+8613800138000"}, {Line: 4, Phone: "+8613800138000"}},
		},
		{
			name:    "bad phone counted, row kept",
			in:      "phone,name\nnot a phone,Li Wei\n12,Wang\n",
			cols:    []string{"phone", "name"},
			rows:    []Row{{Line: 2, Name: "li wei"}, {Line: 3, Name: "wang"}},
			invalid: 2,
		},
		{
			name: "ragged rows",
			in:   "name,account,id\nLi Wei\nWang,w@x.cn,c-9,extra,more\n",
			cols: []string{"name", "account", "id"},
			rows: []Row{{Line: 2, Name: "li wei"}, {Line: 3, Name: "wang", Account: "w@x.cn", ID: "c-9"}},
		},
		{
			name: "trunk prefixed landline",
			in:   "phone\n020-1234-5678\n(0755) 1234 5678\n",
			cols: []string{"phone"},
			rows: []Row{{Line: 2, Phone: "+862012345678"}, {Line: 3, Phone: "+8675512345678"}},
		},
		{
			name: "header only",
			in:   "id,phone\n",
			cols: []string{"id", "phone"},
		},
		{
			name: "column named twice takes first",
			in:   "phone,phone\n13800138000,13900139001\n",
			cols: []string{"phone"},
			rows: []Row{{Line: 2, Phone: "+8613800138000"}},
		},
		{
			name:    "account with blanks inside",
			in:      "account\nli wei@example.com\n",
			cols:    []string{"account"},
			invalid: 1,
			rows:    []Row{{Line: 2}},
		},
		{
			name: "multi-line quoted cell keeps line of row start",
			in:   "name,id\n\"Li\nWei\",c-1\nWang,c-2\n",
			cols: []string{"name", "id"},
			rows: []Row{{Line: 2, Name: "li wei", ID: "c-1"}, {Line: 4, Name: "wang", ID: "c-2"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			leak, err := ParseLeak(strings.NewReader(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(leak.Columns, tt.cols) {
				t.Errorf("columns = %v, want %v", leak.Columns, tt.cols)
			}
			if len(leak.Rows) != len(tt.rows) || (len(tt.rows) > 0 && !reflect.DeepEqual(leak.Rows, tt.rows)) {
				t.Errorf("rows\n got %+v\nwant %+v", leak.Rows, tt.rows)
			}
			if leak.Invalid != tt.invalid {
				t.Errorf("Invalid = %d, want %d", leak.Invalid, tt.invalid)
			}
		})
	}
}

func TestParseLeakErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want error
	}{
		{"empty", "", ErrEmptyLeak},
		{"only bom", "\ufeff", ErrEmptyLeak},
		{"no known column", "email_hash,city\nab,cd\n", ErrNoColumns},
		{"headerless data", "13800138000,li wei\n", ErrNoColumns},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseLeak(strings.NewReader(tt.in))
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if strings.Contains(fmt.Sprint(err), "13800138000") {
				t.Errorf("error echoes the file's data: %v", err)
			}
		})
	}
}

// genLeak builds a random leak of normalised values.
func genLeak(rng *rand.Rand, n int) Leak {
	all := []string{ColumnID, ColumnPhone, ColumnAccount, ColumnName}
	rng.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	leak := Leak{Columns: all[:1+rng.IntN(len(all))]}
	for i := 0; i < n; i++ {
		full := Row{
			ID:      fmt.Sprintf("c-%07d", rng.IntN(10000000)),
			Phone:   fmt.Sprintf("+861%d%09d", 3+rng.IntN(7), rng.IntN(1000000000)),
			Account: fmt.Sprintf("user%d@example.com", rng.IntN(1000000)),
			Name:    []string{"li wei", "王芳", "zhang san", "o'neil \"jr\"", "chen, jie"}[rng.IntN(5)],
		}
		r := Row{Line: i + 2}
		for _, c := range leak.Columns {
			switch c {
			case ColumnID:
				r.ID = full.ID
			case ColumnPhone:
				r.Phone = full.Phone
			case ColumnAccount:
				r.Account = full.Account
			case ColumnName:
				r.Name = full.Name
			}
		}
		leak.Rows = append(leak.Rows, r)
	}
	return leak
}

// TestLeakRoundTrip checks that WriteCSV and ParseLeak are inverse on
// generated leaks.
func TestLeakRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 50; i++ {
		leak := genLeak(rng, rng.IntN(40))
		var buf bytes.Buffer
		if err := leak.WriteCSV(&buf); err != nil {
			t.Fatal(err)
		}
		got, err := ParseLeak(&buf)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got.Columns, leak.Columns) || len(got.Rows) != len(leak.Rows) ||
			(len(leak.Rows) > 0 && !reflect.DeepEqual(got.Rows, leak.Rows)) {
			t.Fatalf("round trip differs:\n got %+v\nwant %+v", got, leak)
		}
	}
}

// FuzzParseLeak checks that ParseLeak never panics, that what it returns is
// normalised (normalising again changes nothing) and that it survives a
// WriteCSV/ParseLeak round trip unchanged.
func FuzzParseLeak(f *testing.F) {
	f.Add([]byte("id,phone,account,name\nc-1,+8613800138000,a@b.c,li wei\n"))
	f.Add([]byte("\ufeffPhone ; Name\r\n 138 0013 8000 ; 王芳\r\n"))
	f.Add([]byte("name,\"id\nx\",phone\n\"a,b\",c,d\n"))
	f.Add([]byte("account\tid\n＠,\u200b\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		leak, err := ParseLeak(bytes.NewReader(data))
		if err != nil {
			return
		}
		for _, r := range leak.Rows {
			if r.Phone != "" {
				if p, ok := normalizePhone(r.Phone); !ok || p != r.Phone {
					t.Fatalf("phone %q not normalised (%q)", r.Phone, p)
				}
			}
			if r.Account != "" {
				if a, ok := normalizeAccount(r.Account); !ok || a != r.Account {
					t.Fatalf("account %q not normalised (%q)", r.Account, a)
				}
			}
			if n, _ := normalizeName(r.Name); n != r.Name {
				t.Fatalf("name %q not normalised (%q)", r.Name, n)
			}
		}
		var buf bytes.Buffer
		if err := leak.WriteCSV(&buf); err != nil {
			t.Fatal(err)
		}
		again, err := ParseLeak(&buf)
		if err != nil {
			t.Fatalf("reparse: %v\n%q", err, buf.String())
		}
		if !reflect.DeepEqual(again.Columns, leak.Columns) {
			t.Fatalf("columns %v, then %v", leak.Columns, again.Columns)
		}
		// Rows whose values are all empty are dropped on re-reading.
		var want []Row
		for _, r := range leak.Rows {
			if r.ID != "" || r.Phone != "" || r.Account != "" || r.Name != "" {
				r.Line = 0
				want = append(want, r)
			}
		}
		if got := stripLines(again.Rows); len(got) != len(want) || (len(want) > 0 && !reflect.DeepEqual(got, want)) {
			t.Fatalf("round trip differs:\n got %+v\nwant %+v\n%q", got, want, buf.String())
		}
	})
}
