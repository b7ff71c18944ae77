// Command floh is the Floh server and its administration commands.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"floh/engine"
)

const usage = `floh: identity-provisioning workflows

Usage:
  floh serve [--migrate] [--demo] start the server (see README: Configuration); --demo also
                                  serves a generated LDAP directory and a connector to it
  floh migrate                    apply database migrations and exit
  floh token create --email <email> --name <name> [--permissions a,b] [--expires 30d]
                                  create an API token; prints only the token on stdout
  floh user add --email <email> [--name <name>] [--roles Admin,Requestor]
                                  pre-provision a user (confirmed at first sign-in) with roles
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprintf(os.Stderr, "floh: %s\n\n%s", err, usage)
			os.Exit(2)
		}
		fmt.Fprintf(os.Stderr, "floh: %s\n", err)
		os.Exit(1)
	}
}

type usageError string

func (e usageError) Error() string { return string(e) }

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError("no command given")
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	slog.SetDefault(log)
	switch args[0] {
	case "serve":
		fs := flag.NewFlagSet("serve", flag.ContinueOnError)
		fs.SetOutput(stderr)
		migrate := fs.Bool("migrate", false, "apply pending migrations to an external database before serving")
		demo := fs.Bool("demo", false, "also serve a demo LDAP directory of generated people, with a connector to it and Floh users to match (development only)")
		if err := fs.Parse(args[1:]); err != nil {
			return usageError(err.Error())
		}
		cfg, err := loadConfig(getenv)
		if err != nil {
			return err
		}
		if *demo && cfg.Production {
			return usageError("--demo adds generated users and a connector to the database: it is for development, not FLOH_ENV=production")
		}
		return serve(ctx, cfg, serveOptions{migrate: *migrate, demo: *demo}, log, stdout)
	case "migrate":
		cfg, err := loadConfig(getenv)
		if err != nil {
			return err
		}
		return migrate(ctx, cfg, log, stdout)
	case "token":
		if len(args) < 2 || args[1] != "create" {
			return usageError("the token command has one subcommand: floh token create")
		}
		return tokenCreate(ctx, args[2:], getenv, log, stdout, stderr)
	case "user":
		if len(args) < 2 || args[1] != "add" {
			return usageError("the user command has one subcommand: floh user add")
		}
		return userAdd(ctx, args[2:], getenv, log, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		return usageError(fmt.Sprintf("unknown command %q", args[0]))
	}
}

func migrate(ctx context.Context, cfg *config, log *slog.Logger, stdout io.Writer) error {
	d, err := openDatabase(ctx, cfg, false, log)
	if err != nil {
		return err
	}
	defer func() { _ = d.close(context.WithoutCancel(ctx)) }()
	applied, err := d.Migrate(ctx)
	if err != nil {
		return err
	}
	if len(applied) == 0 {
		fmt.Fprintln(stdout, "The database is up to date.")
	}
	for _, m := range applied {
		fmt.Fprintln(stdout, "applied", m)
	}
	return nil
}

// withEngine opens the database (migrated, so a fresh embedded default works too) and an
// engine for a short CLI command.
func withEngine(ctx context.Context, getenv func(string) string, log *slog.Logger, fn func(*engine.Engine) error) error {
	cfg, err := loadConfig(getenv)
	if err != nil {
		return err
	}
	// The engine opens connector secrets with the encryption key, which development keeps
	// in the data dir; a CLI command may be the first to run on a fresh machine.
	if err := ensureDataDir(cfg.DataDir); err != nil {
		return err
	}
	if err := cfg.resolveKeys(log); err != nil {
		return err
	}
	d, err := openDatabase(ctx, cfg, false, log)
	if err != nil {
		return err
	}
	defer func() { _ = d.close(context.WithoutCancel(ctx)) }()
	if err := d.prepareSchema(ctx, false, log); err != nil {
		return err
	}
	opts, err := cfg.engineOptions(d.DB, log)
	if err != nil {
		return err
	}
	eng, err := engine.New(opts)
	if err != nil {
		return err
	}
	return fn(eng)
}

func tokenCreate(ctx context.Context, args []string, getenv func(string) string, log *slog.Logger, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("token create", flag.ContinueOnError)
	fs.SetOutput(stderr)
	email := fs.String("email", "", "the token owner's email (required)")
	name := fs.String("name", "", "what the token is for (required)")
	perms := fs.String("permissions", "", "comma-separated permissions; default: all of the owner's")
	expires := fs.String("expires", strconv.Itoa(engine.DefaultTokenDays)+"d", "lifetime in days, e.g. 30d (at most 365d)")
	if err := fs.Parse(args); err != nil {
		return usageError(err.Error())
	}
	if *email == "" || *name == "" {
		return usageError("token create needs --email and --name")
	}
	days, err := parseDays(*expires)
	if err != nil {
		return usageError(err.Error())
	}
	in := engine.CreateTokenInput{Name: *name, ExpiresInDays: &days}
	if *perms != "" {
		in.Permissions = splitList(*perms)
	}
	return withEngine(ctx, getenv, log, func(eng *engine.Engine) error {
		t, err := eng.CreateTokenForEmail(ctx, *email, in)
		if err != nil {
			return describe(err)
		}
		fmt.Fprintf(stderr, "Created token %q (%s…) for %s, expires %s.\n", t.Name, t.Prefix, *email, t.ExpiresAt.Format("2006-01-02"))
		fmt.Fprintln(stdout, t.Token)
		return nil
	})
}

func userAdd(ctx context.Context, args []string, getenv func(string) string, log *slog.Logger, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("user add", flag.ContinueOnError)
	fs.SetOutput(stderr)
	email := fs.String("email", "", "the user's email (required)")
	name := fs.String("name", "", "display name")
	roles := fs.String("roles", "", "comma-separated system roles, e.g. Admin")
	if err := fs.Parse(args); err != nil {
		return usageError(err.Error())
	}
	if *email == "" {
		return usageError("user add needs --email")
	}
	return withEngine(ctx, getenv, log, func(eng *engine.Engine) error {
		actor := engine.Actor{Label: "cli"}
		u, created, err := eng.CreateUser(ctx, actor, engine.CreateUserInput{Email: *email, DisplayName: *name, FindOrCreate: true})
		if err != nil {
			return describe(err)
		}
		if want := splitList(*roles); len(want) > 0 {
			if u, err = eng.SetUserRoles(ctx, actor, u.ID, append(want, u.Roles...)); err != nil {
				return describe(err)
			}
		}
		verb := "Found"
		if created {
			verb = "Added"
		}
		fmt.Fprintf(stderr, "%s %s with roles [%s].\n", verb, u.Email, strings.Join(u.Roles, ", "))
		fmt.Fprintln(stdout, u.ID)
		return nil
	})
}

// describe turns a validation error into lines an operator reads in a terminal.
func describe(err error) error {
	var v *engine.ValidationError
	if errors.As(err, &v) {
		lines := make([]string, len(v.Fields))
		for i, f := range v.Fields {
			lines[i] = "--" + f.Field + ": " + f.Message
		}
		return errors.New(strings.Join(lines, "\n"))
	}
	return err
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func parseDays(s string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(s), "d"))
	if err != nil || n < 1 || n > engine.MaxTokenDays {
		return 0, fmt.Errorf("--expires %q must be a number of days from 1d to %dd", s, engine.MaxTokenDays)
	}
	return n, nil
}
