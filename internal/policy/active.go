package policy

import "path/filepath"

// Active loads the policies in effect: those in dir when given; otherwise
// those in dataPolicies (a data directory's policies/, which the server
// seeds with the default pack) when it holds *.cedar files; otherwise the
// built-in default pack. It also says which it loaded.
func Active(dir, dataPolicies string) (eng *Engine, source string, err error) {
	if dir == "" {
		if m, _ := filepath.Glob(filepath.Join(dataPolicies, "*.cedar")); len(m) > 0 {
			dir = dataPolicies
		}
	}
	if dir == "" {
		return Default(), "default pack", nil
	}
	if eng, err = Load(dir); err != nil {
		return nil, "", err
	}
	return eng, dir, nil
}
