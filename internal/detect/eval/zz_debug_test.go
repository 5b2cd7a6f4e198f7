package eval

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/custos-dev/custos/internal/detect"
	"github.com/custos-dev/custos/internal/detect/scenario"
	"github.com/custos-dev/custos/internal/event"
)

func TestZZDebug(t *testing.T) {
	seedS := os.Getenv("DBG_SEED")
	if seedS == "" {
		t.Skip()
	}
	seed, _ := strconv.ParseUint(seedS, 10, 64)
	actors := map[string]bool{}
	for _, a := range strings.Split(os.Getenv("DBG_ACTORS"), ",") {
		actors[a] = true
	}
	eng := detect.New(detect.DefaultConfig())
	p := scenario.Draw(seed)
	var world *scenario.World
	lastDay := map[string]string{}
	world = scenario.Stream(p, func(w *scenario.World, ev event.Event, illicit bool) {
		world = w
		for _, a := range eng.Observe(ev) {
			if actors[a.Actor] {
				fmt.Println("ALERT", a.Actor, a.Time, a.Kind, a.Score, a.Reasons)
			}
		}
		if actors[ev.Actor] {
			d := ev.Time.Format("01-02")
			if lastDay[ev.Actor] != d {
				lastDay[ev.Actor] = d
				r, _ := eng.Risk(ev.Actor)
				fmt.Println("  day", ev.Actor, d, "risk", r.Score, r.Kind, r.Reasons)
			}
		}
	})
	for _, in := range world.Insiders {
		if actors[in.Actor] {
			fmt.Println("INSIDER", in.Actor, in.Kind, in.From)
		}
	}
	for a := range actors {
		pp, ok := eng.Profile(a)
		if !ok {
			continue
		}
		fmt.Println(a, pp.Role, pp.Site, "knobs", world.Knobs)
		for _, d := range pp.Days {
			fmt.Printf("   %s reads %d unexpl %d peers %.0f/%.0f\n", d.Day.Format("01-02"), d.Reads, d.Unexplained, d.PeerMedian, d.PeerHigh)
		}
	}
}
