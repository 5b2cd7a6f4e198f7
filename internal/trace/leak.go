package trace

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode"

	"github.com/custos-dev/custos/internal/vault"
)

// Leak columns, as the contract names them.
const (
	ColumnID      = "id"
	ColumnPhone   = "phone"
	ColumnAccount = "account"
	ColumnName    = "name"
)

// Sentinel errors of ParseLeak.
var (
	// ErrEmptyLeak is returned for a file with no header line.
	ErrEmptyLeak = errors.New("leak file is empty")
	// ErrNoColumns is returned when the header names none of the known
	// columns (id, phone, account, name).
	ErrNoColumns = errors.New("leak file header names none of id, phone, account, name")
)

// aliases maps header names that leaked lists commonly use to the contract's
// columns. Exact contract names always win over aliases.
var aliases = map[string]string{
	"customer": ColumnID, "customer_id": ColumnID, "customer id": ColumnID, "customerid": ColumnID,
	"mobile": ColumnPhone, "tel": ColumnPhone, "telephone": ColumnPhone, "phone_number": ColumnPhone,
	"phone number": ColumnPhone, "msisdn": ColumnPhone,
	"email": ColumnAccount, "e-mail": ColumnAccount, "login": ColumnAccount, "username": ColumnAccount,
	"full_name": ColumnName, "full name": ColumnName, "customer_name": ColumnName,
}

// Leak is a parsed leaked list.
type Leak struct {
	// Columns are the known columns the header named, in header order.
	Columns []string
	// Rows are the data rows read, duplicates included, in file order.
	// Rows whose cells are all blank are not data and are skipped.
	Rows []Row
	// Invalid counts cells of a known column that held something that could
	// not be normalised (a phone that is not a phone number, say). Such a
	// cell is left empty in its Row.
	Invalid int
}

// Row is one data row of a leak, its values normalised as the vault
// normalises them for the blind indexes. An empty value means the column is
// absent, blank or invalid in this row.
type Row struct {
	Line    int // line in the file where the row starts (the header is line 1)
	ID      string
	Phone   string // E.164, see vault.NormalizePhone
	Account string // see vault.NormalizeAccount
	Name    string // see vault.NormalizeName
}

// ParseLeak reads a leaked list: a CSV file whose header names any of the
// columns id, phone, account and name (case-insensitive, in any order, with
// stray spaces; common aliases such as "mobile" or "email" are accepted;
// other columns are ignored). It tolerates a UTF-8 byte-order mark, CRLF line
// ends, a ';', tab or '|' delimiter (sniffed from the header), ragged rows,
// stray quotes, full-width characters and phones in E.164, national, trunk
// or '+'-less forms with spaces and dashes. Values are normalised with the
// vault's functions so that they can be looked up through the blind indexes.
//
// ParseLeak fails only if there is no header or the header names no known
// column; a bad cell is counted in Leak.Invalid and left empty.
func ParseLeak(r io.Reader) (Leak, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	// A BOM may come before the header.
	if b, err := br.Peek(3); err == nil && bytes.Equal(b, []byte("\xef\xbb\xbf")) {
		_, _ = br.Discard(3)
	}
	cr := csv.NewReader(br)
	cr.Comma = sniffDelimiter(br)
	cr.FieldsPerRecord = -1
	cr.LazyQuotes = true
	cr.ReuseRecord = true

	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return Leak{}, ErrEmptyLeak
	}
	if err != nil {
		return Leak{}, fmt.Errorf("leak file header: %w", err)
	}
	cols := mapHeader(header)
	var leak Leak
	for i := range header {
		if cols[i] != "" {
			leak.Columns = append(leak.Columns, cols[i])
		}
	}
	if len(leak.Columns) == 0 {
		return Leak{}, ErrNoColumns
	}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			line, _ := cr.FieldPos(0)
			return Leak{}, fmt.Errorf("leak file line %d: %w", line, err)
		}
		line, _ := cr.FieldPos(0)
		row := Row{Line: line}
		blank := true
		for i, v := range rec {
			if strings.TrimFunc(v, isBlank) != "" {
				blank = false
			}
			if i >= len(cols) || cols[i] == "" {
				continue
			}
			ok := true
			switch cols[i] {
			case ColumnID:
				row.ID, ok = normalizeID(v)
			case ColumnPhone:
				row.Phone, ok = normalizePhone(v)
			case ColumnAccount:
				row.Account, ok = normalizeAccount(v)
			case ColumnName:
				row.Name, ok = normalizeName(v)
			}
			if !ok {
				leak.Invalid++
			}
		}
		if !blank {
			leak.Rows = append(leak.Rows, row)
		}
	}
	return leak, nil
}

// mapHeader returns, for each header cell, the known column it names or "".
// A column named twice is taken from its first occurrence; exact names win
// over aliases.
func mapHeader(header []string) []string {
	cols := make([]string, len(header))
	taken := map[string]bool{}
	for pass := 0; pass < 2; pass++ {
		for i, h := range header {
			h = strings.ToLower(strings.TrimFunc(foldWidth(h), func(r rune) bool { return isBlank(r) || r == '"' || r == '\'' }))
			c := ""
			switch {
			case pass == 0 && (h == ColumnID || h == ColumnPhone || h == ColumnAccount || h == ColumnName):
				c = h
			case pass == 1:
				c = aliases[h]
			}
			if c != "" && !taken[c] && cols[i] == "" {
				cols[i] = c
				taken[c] = true
			}
		}
	}
	return cols
}

// sniffDelimiter picks the delimiter of the header line: the most frequent of
// ',', ';', '\t' and '|' outside quotes, ',' when none occurs.
func sniffDelimiter(br *bufio.Reader) rune {
	b, _ := br.Peek(br.Size())
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		b = b[:i]
	}
	counts := map[byte]int{}
	quoted := false
	for _, c := range b {
		switch c {
		case '"':
			quoted = !quoted
		case ',', ';', '\t', '|':
			if !quoted {
				counts[c]++
			}
		}
	}
	best, n := byte(','), 0
	for _, c := range []byte{',', ';', '\t', '|'} {
		if counts[c] > n {
			best, n = c, counts[c]
		}
	}
	return rune(best)
}

// isBlank reports spaces, including no-break and zero-width ones and a
// stray byte-order mark.
func isBlank(r rune) bool {
	return unicode.IsSpace(r) || r == '\u200b' || r == '\ufeff' || r == '\u00a0' || r == '\u3000'
}

// foldWidth maps full-width ASCII forms (U+FF01..U+FF5E) to ASCII and the
// ideographic space to a space, and drops zero-width characters, as
// spreadsheets in CJK locales often produce.
func foldWidth(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			ascii = false
			break
		}
	}
	if ascii {
		return s
	}
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 0xff01 && r <= 0xff5e:
			return r - 0xfee0
		case r == '\u3000' || r == '\u00a0':
			return ' '
		case r == '\u200b' || r == '\ufeff':
			return -1
		}
		return r
	}, s)
}

// clean trims blanks and stray quotes around a cell.
func clean(s string) string {
	return strings.TrimFunc(s, func(r rune) bool { return isBlank(r) || r == '"' })
}

// normalizeID trims an id. It reports false only for a non-blank cell that
// yields nothing, which cannot happen for ids.
func normalizeID(s string) (string, bool) {
	return clean(foldWidth(s)), true
}

// normalizePhone normalises a leaked phone cell with vault.NormalizePhone,
// after removing what spreadsheets add: full-width digits, a leading
// apostrophe (Excel's text marker) and a "tel:" prefix. A blank cell is ""
// and valid.
func normalizePhone(s string) (string, bool) {
	s = clean(foldWidth(s))
	s = strings.TrimPrefix(s, "'")
	if len(s) > 4 && strings.EqualFold(s[:4], "tel:") {
		s = s[4:]
	}
	if s == "" {
		return "", true
	}
	p, err := vault.NormalizePhone(s)
	if err != nil {
		return "", false
	}
	return p, true
}

// normalizeAccount normalises a leaked account cell with
// vault.NormalizeAccount, after folding full-width forms and removing a
// "mailto:" prefix. A value with blanks inside is not an account.
func normalizeAccount(s string) (string, bool) {
	s = clean(foldWidth(s))
	if len(s) > 7 && strings.EqualFold(s[:7], "mailto:") {
		s = s[7:]
	}
	if s == "" {
		return "", true
	}
	if strings.IndexFunc(s, isBlank) >= 0 {
		return "", false
	}
	return vault.NormalizeAccount(s), true
}

// normalizeName normalises a leaked name cell with vault.NormalizeName,
// after trimming zero-width blanks around it. Quotes are kept: names may
// hold them.
func normalizeName(s string) (string, bool) {
	return vault.NormalizeName(strings.TrimFunc(s, isBlank)), true
}

// WriteCSV writes the leak as a CSV file with a header of its Columns, one
// line per row: the form ParseLeak reads back to an equal Leak.
func (l Leak) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(l.Columns); err != nil {
		return fmt.Errorf("write leak: %w", err)
	}
	rec := make([]string, len(l.Columns))
	for _, r := range l.Rows {
		for i, c := range l.Columns {
			rec[i] = r.value(c)
		}
		if err := cw.Write(rec); err != nil {
			return fmt.Errorf("write leak: %w", err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("write leak: %w", err)
	}
	return nil
}

func (r Row) value(column string) string {
	switch column {
	case ColumnID:
		return r.ID
	case ColumnPhone:
		return r.Phone
	case ColumnAccount:
		return r.Account
	case ColumnName:
		return r.Name
	}
	return ""
}
