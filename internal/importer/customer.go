package importer

import (
	"errors"
	"fmt"
	"strings"

	"github.com/custos-dev/custos/internal/store"
	"github.com/custos-dev/custos/internal/vault"
)

// CustomerFields is one customer as the brand's systems give it (a row of
// customers.csv, the body of the CRM's PUT), before it is checked and
// sealed.
type CustomerFields struct {
	ID      string `json:"-"`
	Name    string `json:"name"`
	Phone   string `json:"phone"`
	Account string `json:"account"`
	Region  string `json:"region"`
	Site    string `json:"site"`
}

// ErrBadCustomer is matched (errors.Is) by every error SealCustomer
// returns; the error's text says which field is wrong and what is wanted,
// and never repeats a personal value.
var ErrBadCustomer = errors.New("bad customer")

type customerError struct{ msg string }

func (e *customerError) Error() string        { return e.msg }
func (e *customerError) Is(target error) bool { return target == ErrBadCustomer }

// SealCustomer checks f as the contract's customers.csv does, normalises
// it, and returns the record as stored: name, phone and account sealed by
// v under a fresh record key of their own (returned wrapped, in Key), their
// blind indexes computed. Import and the CRM's PUT both use it, so
// a record is the same whichever way it came in. Surrounding spaces are
// ignored.
func SealCustomer(v *vault.Vault, f CustomerFields) (store.Customer, error) {
	return sealCustomer(v.NewSealer(), f)
}

// sealCustomer is SealCustomer with a Sealer of the caller's.
func sealCustomer(v *vault.Sealer, f CustomerFields) (store.Customer, error) {
	c, err := checkCustomer(f)
	if err != nil {
		return store.Customer{}, err
	}
	phone, account, name := c.Phone, c.Account, c.Name
	rec, key := v.NewRecord(c.ID)
	return store.Customer{
		ID: c.ID, Region: c.Region, Site: c.Site,
		Name:         v.Seal(rec, "name", name),
		Phone:        v.Seal(rec, "phone", phone),
		Account:      v.Seal(rec, "account", account),
		Key:          key,
		PhoneIndex:   v.BlindIndex(vault.IndexPhone, phone),
		AccountIndex: v.BlindIndex(vault.IndexAccount, account),
		NameIndex:    v.BlindIndex(vault.IndexName, vault.NormalizeName(name)),
	}, nil
}

// checkCustomer validates f and returns it trimmed and normalised (phone in
// E.164, account lower-cased, region upper-cased).
func checkCustomer(f CustomerFields) (CustomerFields, error) {
	bad := func(format string, args ...any) (CustomerFields, error) {
		return CustomerFields{}, &customerError{fmt.Sprintf(format, args...)}
	}
	f.ID = strings.TrimSpace(f.ID)
	if !ValidID(f.ID) {
		return bad("id %q is not a valid id", truncate(f.ID))
	}
	f.Name = strings.TrimSpace(f.Name)
	if f.Name == "" || len(f.Name) > 200 {
		return bad("name is required (at most 200 bytes)")
	}
	phone, err := vault.NormalizePhone(f.Phone)
	if err != nil {
		return bad("phone is not a phone number in E.164 form (+8613800138000)")
	}
	f.Phone = phone
	f.Account = vault.NormalizeAccount(f.Account)
	if f.Account == "" || len(f.Account) > 320 || strings.ContainsAny(f.Account, " \t") {
		return bad("account is required: an e-mail-like login")
	}
	f.Region = strings.ToUpper(strings.TrimSpace(f.Region))
	if f.Region == "" || len(f.Region) > 16 {
		return bad("region is required: a code such as GD")
	}
	f.Site = strings.TrimSpace(f.Site)
	if f.Site != "" && !ValidID(f.Site) {
		return bad("site %q is not a valid id", truncate(f.Site))
	}
	return f, nil
}
