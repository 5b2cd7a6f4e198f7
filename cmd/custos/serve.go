package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/custos-dev/custos/internal/auditlog"
	"github.com/custos-dev/custos/internal/config"
	"github.com/custos-dev/custos/internal/cpuprof"
	"github.com/custos-dev/custos/internal/datadir"
	"github.com/custos-dev/custos/internal/gateway"
	"github.com/custos-dev/custos/internal/httpapi"
	"github.com/custos-dev/custos/internal/notify"
	"github.com/custos-dev/custos/internal/policy"
	"github.com/custos-dev/custos/internal/store"
	"github.com/custos-dev/custos/internal/store/sqlite"
	"github.com/custos-dev/custos/internal/watch"
)

// serveFlags are serve's flags (demo shares them).
type serveFlags struct {
	storeFlags
	addr     string
	config   string
	policies string
	logLevel string
	cpuProf  string
	tls      tlsFlags
	oidcIss  string
}

func (f *serveFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.addr, "addr", DefaultAddr, "listen `address` host:port")
	fs.StringVar(&f.config, "config", "", "configuration `file` (TOML)")
	fs.StringVar(&f.policies, "policies", "", "policy `dir` of .cedar files (default <data>/policies)")
	fs.StringVar(&f.logLevel, "log-level", "info", "log `level`: debug, info, warn, error")
	fs.StringVar(&f.oidcIss, "oidc-issuer", "", "OpenID Connect issuer `url` for staff sign-in (overrides oidc.issuer; see [oidc] in the config)")
	fs.StringVar(&f.cpuProf, "cpuprofile", "", "write a CPU profile to `file` until shutdown (for performance work)")
	f.tls.register(fs)
}

func cmdServe(ctx context.Context, env *Env, args []string) int {
	fs := newFlagSet(env, "serve", "serve [--data DIR | --db URL] [--addr HOST:PORT] [--config FILE] [--policies DIR]")
	var f serveFlags
	f.storeFlags.register(fs)
	f.register(fs)
	if code, stop := parseFlags(fs, env, args); stop {
		return code
	}
	if _, err := f.tls.Load(); err != nil {
		return fail(env, "serve", exitUsage, err)
	}
	stopProf, err := cpuprof.Start(f.cpuProf)
	if err != nil {
		return fail(env, "serve", exitUsage, err)
	}
	defer stopProf()
	// A gateway's live heap is small (about 20 MB under bench/load) and it
	// allocates fast, so at the runtime's default it collected three to
	// four times a second, 8 % of its CPU. Unless the operator set GOGC,
	// it collects when the heap has grown to five times what is live.
	if env.Getenv("GOGC") == "" {
		defer debug.SetGCPercent(debug.SetGCPercent(400))
	}
	app, err := startApp(ctx, env, f, appOptions{})
	if err != nil {
		return fail(env, "serve", exitUsage, err)
	}
	return app.serve(ctx, env)
}

// app is a running custos: store, vault, policy, audit log, detectors and
// the HTTP server. Shutdown order: stop accepting requests, drain them,
// stop the detectors, close the audit log (flushes), close the store.
type app struct {
	logger  *slog.Logger
	flags   serveFlags
	cfg     config.Config
	store   store.Store
	log     *auditlog.Log
	gw      *gateway.Gateway
	api     *httpapi.Server
	watch   *watch.Runner
	ln      net.Listener
	cancel  context.CancelFunc
	closers []func()
}

func newLogger(env *Env, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	return slog.New(slog.NewJSONHandler(env.Stderr, &slog.HandlerOptions{Level: l})), nil
}

// appOptions are in-process overrides (the demo's simulated clock and its
// code-capturing notifier).
type appOptions struct {
	// Durability overrides the config's durability ("full" or "process").
	Durability string
	Now        func() time.Time
	Notifier   notify.Notifier // receives messages besides the configured notifier
}

// startApp opens everything and listens; it does not serve yet.
func startApp(ctx context.Context, env *Env, f serveFlags, opts appOptions) (*app, error) {
	logger, err := newLogger(env, f.logLevel)
	if err != nil {
		return nil, err
	}
	cfg := config.Default()
	if f.config != "" {
		if cfg, err = config.Load(f.config); err != nil {
			return nil, err
		}
	}
	if f.oidcIss != "" {
		cfg.OIDC.Issuer = f.oidcIss
		if err := cfg.Validate(); err != nil {
			return nil, fmt.Errorf("--oidc-issuer: %w", err)
		}
	}
	a := &app{logger: logger, flags: f, cfg: cfg}
	ok := false
	defer func() {
		if !ok {
			a.close()
		}
	}()
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	a.cancel = cancel
	a.closers = append(a.closers, cancel)

	if opts.Durability != "" {
		cfg.Durability = opts.Durability
	}
	st, err := openStore(ctx, f.storeFlags, sqlite.WithSync(sqlite.SyncFor(cfg.Durability)))
	if err != nil {
		return nil, err
	}
	store.StartRowCache(st)
	a.store = st
	a.closers = append(a.closers, func() { st.Close() })
	v, err := openVault(ctx, env, f.storeFlags, st)
	if err != nil {
		return nil, err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	polDir := cmp.Or(f.policies, cfg.Policies, datadir.Dir(f.data).Policies())
	if _, err := policy.WriteDefaults(polDir); err != nil {
		return nil, fmt.Errorf("policies: %w", err)
	}
	pol, err := policy.Watch(runCtx, polDir, policy.WatchOptions{Logger: logger, Registerer: reg})
	if err != nil {
		return nil, fmt.Errorf("policies in %s: %w", polDir, err)
	}

	aopts := auditlog.Options{Store: st, Dir: f.data, Logger: logger, Registerer: reg,
		Origin: cfg.Audit.Origin, WitnessFailOpen: cfg.Audit.WitnessFailOpen,
		ExportFile: cfg.Audit.ExportFile, ExportURL: cfg.Audit.ExportURL, ExportInterval: cfg.Audit.ExportInterval.Duration}
	if aopts.KeyWrapper, err = logKeyWrapper(env, f.storeFlags); err != nil {
		return nil, err
	}
	if cfg.Audit.WitnessPolicy != "" {
		if aopts.WitnessPolicy, err = os.ReadFile(cfg.Audit.WitnessPolicy); err != nil {
			return nil, fmt.Errorf("audit.witness_policy: %w", err)
		}
	}
	lg, err := auditlog.Open(ctx, aopts)
	if err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	a.log = lg
	a.closers = append(a.closers, func() {
		cctx, c := context.WithTimeout(context.Background(), 10*time.Second)
		defer c()
		lg.Close(cctx)
	})

	var n notify.Notifier = &notify.Outbox{Path: filepath.Join(f.data, "outbox.jsonl")}
	if cfg.NotifyWebhook != "" {
		n = &notify.Webhook{URL: cfg.NotifyWebhook}
	}
	if opts.Notifier != nil {
		n = notify.Tee(n, opts.Notifier)
	}
	alerts := &gateway.StoreAlerts{Store: st, Logger: logger}
	if cfg.MetricsToken == "" {
		cfg.MetricsToken = env.Getenv("CUSTOS_METRICS_TOKEN")
	}
	a.gw = &gateway.Gateway{Store: st, Vault: v, Policy: pol, Audit: lg, Notifier: n, Config: cfg, Logger: logger,
		Alerts: alerts, Now: opts.Now}
	a.closers = append(a.closers, a.gw.Close)
	a.api = &httpapi.Server{
		Gateway: a.gw, Store: st, Vault: v, Policy: pol, Config: cfg, Logger: logger,
		Registerer: reg, Gatherer: reg,
		AuditReader: lg, LogHandler: http.StripPrefix("/log", lg.Handler()),
		Alerts: alerts, Now: opts.Now, Health: lg,
	}
	a.api.Init() // before the detectors start: they contain through the gateway it hooks
	if cfg.MetricsAddr != "" {
		stop, err := httpapi.ServeMetrics(cfg.MetricsAddr, reg)
		if err != nil {
			return nil, err
		}
		a.closers = append(a.closers, stop)
	}
	if err := a.attach(runCtx, reg, v); err != nil {
		return nil, err
	}
	go a.gw.RefreshPrincipals(runCtx, 500*time.Millisecond)

	ln, err := net.Listen("tcp", f.addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", f.addr, err)
	}
	a.ln = ln
	ok = true
	return a, nil
}

func (a *app) close() {
	for i := len(a.closers) - 1; i >= 0; i-- {
		a.closers[i]()
	}
	a.closers = nil
}

// serve serves until ctx ends, then shuts down in order.
func (a *app) serve(ctx context.Context, env *Env) int {
	srv := httpapi.NewHTTPServer(a.api.Handler(), a.logger)
	tcfg, err := a.flags.tls.Load()
	if err != nil {
		a.close()
		return fail(env, "serve", exitUsage, err)
	}
	errc := make(chan error, 1)
	scheme := "http"
	if tcfg != nil {
		scheme = "https"
		srv.TLSConfig = tcfg
		go func() { errc <- srv.ServeTLS(a.ln, "", "") }()
	} else {
		go func() { errc <- srv.Serve(a.ln) }()
	}
	fmt.Fprintf(env.Stderr, "custos: serving on %s://%s (data %s)\n", scheme, a.ln.Addr(), a.flags.data)
	if ps, err := a.store.Principals(ctx); err == nil && len(ps) == 0 {
		fmt.Fprintf(env.Stderr, "custos: no principals yet, so nobody can sign in: load them with \"custos import --data %s --principals principals.csv\" (or try \"custos demo\")\n", a.flags.data)
	}
	a.logger.Info("serving", "addr", a.ln.Addr().String())
	code := exitOK
	select {
	case <-ctx.Done():
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintf(env.Stderr, "custos serve: %v\n", err)
			code = exitFail
		}
	}
	sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	srv.Shutdown(sctx)
	a.close()
	a.logger.Info("stopped")
	return code
}
