// Package cpuprof writes a CPU profile for the length of a run (serve's and
// demo's --cpuprofile), for performance work with go tool pprof.
package cpuprof

import (
	"os"
	"runtime/pprof"
)

// Start writes a CPU profile to path until stop is called; with an empty
// path it does nothing.
func Start(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}
