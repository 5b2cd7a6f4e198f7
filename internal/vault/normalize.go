package vault

import (
	"errors"
	"strings"
	"unicode"
)

// ErrBadPhone is returned for a value that cannot be read as a phone number.
var ErrBadPhone = errors.New("not a phone number")

// DefaultCountryCode is assumed for national phone forms (no country code).
const DefaultCountryCode = "86"

// NormalizePhone returns a phone number in E.164 form ("+8613800138000").
// It accepts E.164, the same without '+', an international "00" prefix,
// national mobile numbers (11 digits starting with 1) and trunk-prefixed
// national forms ("0755 1234 5678"), with spaces, dashes, dots and
// parentheses anywhere.
func NormalizePhone(s string) (string, error) {
	s = strings.TrimSpace(s)
	plus := strings.HasPrefix(s, "+")
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == '+' || r == ' ' || r == '-' || r == '.' || r == '(' || r == ')' || r == '\t' || r == '\u00a0':
		default:
			return "", ErrBadPhone
		}
	}
	d := b.String()
	switch {
	case plus:
	case strings.HasPrefix(d, "00"):
		d = d[2:]
	case len(d) == 11 && d[0] == '1':
		d = DefaultCountryCode + d
	case strings.HasPrefix(d, DefaultCountryCode) && len(d) == 13:
	case strings.HasPrefix(d, "0") && len(d) >= 9:
		d = DefaultCountryCode + d[1:]
	}
	if len(d) < 8 || len(d) > 15 || d[0] == '0' {
		return "", ErrBadPhone
	}
	return "+" + d, nil
}

// NormalizeAccount returns an account login trimmed and lower-cased.
func NormalizeAccount(s string) string {
	return strings.ToLower(strings.TrimSpace(s))
}

// NormalizeName returns a name trimmed, with runs of space collapsed to one
// and lower-cased, so that "  Li  Wei" and "li wei" index alike.
func NormalizeName(s string) string {
	return strings.ToLower(strings.Join(strings.FieldsFunc(s, unicode.IsSpace), " "))
}

// MaskPhone shows only the last four digits: "+86•••••••8000".
func MaskPhone(p string) string {
	if len(p) <= 4 {
		return strings.Repeat("•", len(p))
	}
	prefix := ""
	if strings.HasPrefix(p, "+86") && len(p) > 7 {
		prefix = "+86"
	}
	return prefix + strings.Repeat("•", len(p)-4-len(prefix)) + p[len(p)-4:]
}

// MaskAccount shows only the first letter and the domain: "z•••@example.com".
func MaskAccount(a string) string {
	at := strings.LastIndexByte(a, '@')
	if at <= 0 {
		if a == "" {
			return ""
		}
		r := []rune(a)
		return string(r[0]) + "•••"
	}
	r := []rune(a[:at])
	return string(r[0]) + "•••" + a[at:]
}
