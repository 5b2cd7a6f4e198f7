package main

import (
	"context"
	"errors"
	"os"

	"github.com/custos-dev/custos/internal/config"
	"github.com/custos-dev/custos/internal/detect"
	"github.com/custos-dev/custos/internal/detect/eval"
)

// cmdDetect runs the detectors offline over a file of events.
func cmdDetect(ctx context.Context, env *Env, args []string) int {
	fs := newFlagSet(env, "detect", `detect [--events F.jsonl] [--json] [--stream] [--utc-offset D] [--sensitivity S] [--config FILE]

Reads access events (JSON lines, the contract's format; stdin when no file),
runs the same detectors as the server and writes alerts as JSON lines to
stdout. A bad line stops it with one error naming the line (exit 2), and then
nothing is written to stdout unless --stream was given. --config reads the
sites' time zones ([sites."<site>"] timezone = "Asia/Shanghai") for
off-hours.`)
	file := fs.String("events", "", "events file (JSON lines); stdin when empty or \"-\"")
	_ = fs.Bool("json", true, "write alerts as JSON lines (the default and only format)")
	stream := fs.Bool("stream", false, "write each alert as it fires instead of all at the end")
	offset := fs.Duration("utc-offset", 0, "local time offset from UTC for days and hours, e.g. 8h")
	sens := fs.Float64("sensitivity", 1, "threshold multiplier: below 1 fires sooner, above 1 later")
	cfgFile := fs.String("config", "", "TOML config whose [sites] tables give sites' time zones")
	if code, stop := parseFlags(fs, env, args); stop {
		return code
	}
	cfg := detect.DefaultConfig()
	cfg.UTCOffset = *offset
	cfg.Sensitivity = *sens
	if *cfgFile != "" {
		c, err := config.Load(*cfgFile)
		if err != nil {
			return fail(env, "detect", exitUsage, err)
		}
		if cfg.SiteZones, err = c.SiteZones(); err != nil {
			return fail(env, "detect", exitUsage, err)
		}
	}
	if err := cfg.Validate(); err != nil {
		return fail(env, "detect", exitUsage, err)
	}
	in := env.Stdin
	if *file != "" && *file != "-" {
		f, err := os.Open(*file)
		if err != nil {
			return fail(env, "detect", exitUsage, err)
		}
		defer f.Close()
		in = f
	}
	if err := eval.Detect(ctx, in, env.Stdout, detect.New(cfg), *stream); err != nil {
		if errors.Is(err, eval.ErrWrite) {
			return fail(env, "detect", exitFail, err)
		}
		return fail(env, "detect", exitUsage, err)
	}
	return exitOK
}
