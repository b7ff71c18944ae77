package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"floh/connectors/email"
	"floh/engine"
	"floh/handlers"
	"floh/handlers/devoidc"
)

const devClientID = "floh-dev"

// serveOptions are serve's flags.
type serveOptions struct {
	// migrate applies pending migrations to an external database.
	migrate bool
	// demo runs the demo directory and keeps a connector pointed at it.
	demo bool
}

func serve(ctx context.Context, cfg *config, opts serveOptions, log *slog.Logger, stdout io.Writer) (err error) {
	if err := ensureDataDir(cfg.DataDir); err != nil {
		return err
	}
	if err := cfg.resolveKeys(log); err != nil {
		return err
	}
	var mailer engine.Mailer
	smtpDesc := "not configured: notifications are in-app only"
	if cfg.SMTPURL != "" {
		m, err := email.ParseURL(cfg.SMTPURL)
		if err != nil {
			return err
		}
		mailer, smtpDesc = m, m.Server()
	}

	d, err := openDatabase(ctx, cfg, true, log)
	if err != nil {
		return err
	}
	defer func() {
		// Stop the embedded cluster last, after every user of the pool is done.
		err = errors.Join(err, d.close(context.WithoutCancel(ctx)))
	}()
	if err := d.prepareSchema(ctx, opts.migrate, log); err != nil {
		return err
	}
	engOpts, err := cfg.engineOptions(d.DB, log)
	if err != nil {
		return err
	}
	engOpts.Mailer = mailer
	eng, err := engine.New(engOpts)
	if err != nil {
		return err
	}

	hcfg := handlers.Config{
		Engine: eng, DB: d.DB, BaseURL: cfg.BaseURL, Production: cfg.Production,
		CookieKeys: cfg.cookieKeys(), Logger: log,
		OIDC: handlers.OIDCConfig{Issuer: cfg.OIDCIssuer, ClientID: cfg.OIDCClientID, ClientSecret: cfg.OIDCClientSecret},
	}
	if cfg.devOIDC() {
		if hcfg.DevOIDC, hcfg.OIDC, err = devProvider(cfg, log); err != nil {
			return err
		}
		if err := eng.SeedDemoUsers(ctx, hcfg.OIDC.Issuer); err != nil {
			return fmt.Errorf("seed demo users: %w", err)
		}
	}
	var dm *demo
	if opts.demo {
		if dm, err = startDemo(ctx, eng, log); err != nil {
			return err
		}
		// Stopped after the engine (which stops first, below), before the database.
		defer func() { err = errors.Join(err, dm.stop(ctx)) }()
	}
	hcfg.Settings = settingsRows(cfg, hcfg.OIDC.Issuer, smtpDesc, d.cluster != nil, dm)

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s (FLOH_ADDR): %w", cfg.Addr, err)
	}
	app := handlers.New(hcfg)
	defer app.Close()
	srv := &http.Server{
		Handler:           app,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      120 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	if err := eng.Start(ctx); err != nil {
		return err
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	announce(stdout, cfg, dm)

	select {
	case err = <-served:
	case <-ctx.Done():
		log.Info("shutting down: finishing requests and jobs")
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if serr := srv.Shutdown(shutdownCtx); serr != nil {
		err = errors.Join(err, serr)
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return errors.Join(err, eng.Stop(shutdownCtx))
}

// devProvider builds the development OpenID Provider and the client settings that use it.
func devProvider(cfg *config, log *slog.Logger) (http.Handler, handlers.OIDCConfig, error) {
	key, err := cfg.devSigningKey(log)
	if err != nil {
		return nil, handlers.OIDCConfig{}, err
	}
	issuer := cfg.BaseURL.String() + handlers.DevOIDCPath
	secret := hex.EncodeToString(deriveKey(cfg.EncryptionKey, "dev oidc client secret", 32))
	var crypto [32]byte
	copy(crypto[:], deriveKey(cfg.EncryptionKey, "dev oidc crypto", 32))
	users := make([]devoidc.User, len(engine.DemoUsers))
	for i, u := range engine.DemoUsers {
		users[i] = devoidc.User{Subject: u.Subject, Email: u.Email, Name: u.Name, Note: u.Role}
	}
	h, err := devoidc.New(devoidc.Config{
		Issuer: issuer, ClientID: devClientID, ClientSecret: secret,
		RedirectURIs: []string{cfg.BaseURL.String() + "/api/auth/callback"},
		Users:        users, SigningKey: key, CryptoKey: crypto,
		AllowInsecure: cfg.BaseURL.Scheme == "http", Logger: log,
	})
	if err != nil {
		return nil, handlers.OIDCConfig{}, fmt.Errorf("development OIDC provider: %w", err)
	}
	return h, handlers.OIDCConfig{Issuer: issuer, ClientID: devClientID, ClientSecret: secret}, nil
}

func settingsRows(cfg *config, issuer, smtp string, embedded bool, dm *demo) []handlers.Setting {
	env := "development"
	if cfg.Production {
		env = "production"
	}
	database := "external (DATABASE_URL)"
	if embedded {
		database = "embedded PostgreSQL in " + cfg.DataDir + "/pg"
	}
	oidc := issuer
	if cfg.devOIDC() {
		oidc += " (built-in development provider)"
	}
	rotation := "no previous key"
	if cfg.EncryptionKeyPrevious != nil {
		rotation = "FLOH_ENCRYPTION_KEY_PREVIOUS is set: values encrypted with it are still readable"
	}
	demoDir := "off (floh serve --demo runs one)"
	if dm != nil {
		demoDir = fmt.Sprintf("%s: %d generated people, read by the connector %q", dm.dir.URL(), dm.people, dm.connector)
	}
	return []handlers.Setting{
		{Name: "FLOH_ENV", Value: env},
		{Name: "FLOH_BASE_URL", Value: cfg.BaseURL.String(), Help: "Links in emails and the OIDC redirect URI use it."},
		{Name: "FLOH_ADDR", Value: cfg.Addr},
		{Name: "FLOH_DATA_DIR", Value: cfg.DataDir},
		{Name: "Database", Value: database},
		{Name: "OIDC_ISSUER", Value: oidc},
		{Name: "FLOH_ENCRYPTION_KEY", Value: "from " + cfg.EncryptionKeySource, Help: rotation},
		{Name: "SMTP_URL", Value: smtp},
		{Name: "FLOH_MOCK_CONNECTORS", Value: mockSetting(cfg.MockConnectors), Help: "Mock mode at system level: a connector call answers from mock data unless the call says otherwise."},
		{Name: "FLOH_HEALTH_INTERVAL", Value: cfg.HealthInterval.String(), Help: "How often enabled connectors are tested; two failures in a row mark one down."},
		{Name: "FLOH_RESCUE_STUCK_JOBS_AFTER", Value: cfg.RescueStuckJobsAfter.String(), Help: "How long a step's job may run before it is taken for dead (its server crashed) and worked again; keep it above the longest step timeout."},
		{Name: "STUCK_RUN_TIMEOUT_MINUTES", Value: fmt.Sprintf("%d", int64(cfg.StuckRunTimeout/time.Minute)), Help: "A pending or running run that makes no progress for this many minutes fails as timed out (checked every minute)."},
		{Name: "Session", Value: "idle timeout 8 h, absolute 24 h (cookie floh_sid)"},
		{Name: "Demo directory", Value: demoDir, Help: "An LDAP directory served in-process for trying connector sync; its connector is updated on every start."},
	}
}

func announce(w io.Writer, cfg *config, dm *demo) {
	fmt.Fprintf(w, "\nFloh is running at %s\n", cfg.BaseURL)
	if dm != nil {
		fmt.Fprintf(w, "Demo directory: %d people at %s, synced through the connector %q: %s/connectors/%s\n",
			dm.people, dm.dir.URL(), dm.connector, cfg.BaseURL, dm.connectorID)
	}
	if cfg.devOIDC() {
		fmt.Fprintln(w, "Development sign-in (pick a user on the sign-in page, no password):")
		for _, u := range engine.DemoUsers {
			fmt.Fprintf(w, "  %-24s %s\n", u.Email, u.Role)
		}
	}
	fmt.Fprintln(w, "Press Ctrl+C to stop.")
}

func mockSetting(on bool) string {
	if on {
		return "on: no connector contacts its target"
	}
	return "off"
}
