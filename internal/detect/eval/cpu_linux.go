package eval

import (
	"runtime"
	"syscall"
	"time"
)

// threadClock measures the CPU time of the calling goroutine's thread
// while it is locked to it, so that the engine's throughput does not
// depend on what else the machine is running.
type threadClock struct{ t0 time.Duration }

func rusageThread() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(1 /* RUSAGE_THREAD */, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}

// start locks the goroutine to its thread and starts the clock.
func (c *threadClock) start() {
	runtime.LockOSThread()
	c.t0, _ = rusageThread()
}

// stop returns the thread's CPU time since start (falling back to the
// wall time elapsed when the kernel cannot say) and unlocks the thread.
func (c *threadClock) stop(wall time.Duration) time.Duration {
	t, ok := rusageThread()
	runtime.UnlockOSThread()
	if !ok || t < c.t0 {
		return wall
	}
	return t - c.t0
}
