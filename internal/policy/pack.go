package policy

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/custos-dev/custos/internal/policy/defaults"
)

// DirName is the policy directory's name inside a data directory:
// "<data>/policies".
const DirName = "policies"

// WriteDefaults seeds dir with the default pack (schema and *.cedar files)
// when dir holds no *.cedar file yet; it creates dir if needed and leaves a
// dir that has policies untouched. It reports whether it wrote the pack.
// Each file is written to a temporary name and renamed into place, so a
// failure leaves no half-written file.
func WriteDefaults(dir string) (bool, error) {
	has, err := hasPolicies(dir)
	if err != nil {
		return false, fmt.Errorf("seed policies: %w", err)
	}
	if has {
		return false, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return false, fmt.Errorf("seed policies: %w", err)
	}
	ents, err := fs.ReadDir(defaults.FS, ".")
	if err != nil {
		return false, fmt.Errorf("policy: internal error: %w", err)
	}
	// A reader polling the directory meanwhile may see some policies
	// without the schema; it then uses the built-in schema, which is the
	// same one.
	for _, de := range ents {
		b, err := fs.ReadFile(defaults.FS, de.Name())
		if err != nil {
			return false, fmt.Errorf("policy: internal error: %w", err)
		}
		if err := writeFileAtomic(filepath.Join(dir, de.Name()), b); err != nil {
			return false, fmt.Errorf("seed policies: %w", err)
		}
	}
	return true, nil
}

// hasPolicies reports whether dir exists and holds a *.cedar file.
func hasPolicies(dir string) (bool, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	for _, de := range ents {
		if !de.IsDir() && strings.HasSuffix(de.Name(), ".cedar") {
			return true, nil
		}
	}
	return false, nil
}

func writeFileAtomic(name string, b []byte) error {
	f, err := os.CreateTemp(filepath.Dir(name), ".tmp-"+filepath.Base(name)+"-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(b)
	if err == nil {
		err = f.Chmod(0o644)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, name)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}
