package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"floh/connectors/ldap/demodir"
	"floh/db"
	"floh/engine"
)

// serveInProcess runs `floh <args>` until the returned stop, which fails the test unless
// serve returns cleanly.
func serveInProcess(t *testing.T, vars map[string]string, args ...string) (stop func(), stdout *bytes.Buffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var out bytes.Buffer
	go func() { done <- run(ctx, args, env(vars), &out, &bytes.Buffer{}) }()
	waitHealthy(t, "http://"+vars["FLOH_ADDR"], done)
	return func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("serve returned %v on shutdown", err)
			}
		case <-time.After(60 * time.Second):
			t.Fatal("serve did not stop")
		}
	}, &out
}

// demoState is what a test reads of the database while serve runs: the live connectors, the
// users, and the outcome of testing the demo connector from another engine.
type demoState struct {
	connectors []db.Connector
	users      int64
	url        string
	test       *engine.TestOutcome
	created    int64 // audit entries of the demo connector's creation
}

func readDemoState(t *testing.T, vars map[string]string) demoState {
	t.Helper()
	var s demoState
	err := withEngine(context.Background(), env(vars), discard(), func(eng *engine.Engine) error {
		ctx := context.Background()
		cs, _, err := eng.ListConnectors(ctx, db.ConnectorFilter{Page: db.Page{Page: 1, PageSize: 50}})
		if err != nil {
			return err
		}
		s.connectors = cs
		cfg, err := loadConfig(env(vars))
		if err != nil {
			return err
		}
		d, err := openDatabase(ctx, cfg, false, discard())
		if err != nil {
			return err
		}
		defer d.close(ctx)
		bun := d.DB.Bun
		if s.users, err = bun.NewSelect().Table("users").Where("deleted_at IS NULL").Count(ctx); err != nil {
			return err
		}
		if s.created, err = bun.NewSelect().Table("audit_log").
			Where("entity = 'connector' AND entity_id = ? AND action = 'connector.created'", engine.DemoConnectorID.String()).Count(ctx); err != nil {
			return err
		}
		for _, c := range cs {
			if c.ID != engine.DemoConnectorID {
				continue
			}
			var config map[string]any
			if err := json.Unmarshal(c.Config, &config); err != nil {
				return err
			}
			s.url, _ = config["url"].(string)
			if s.test, err = eng.TestConnector(ctx, engine.Actor{Label: "cli"}, c.ID, engine.SourceConsole); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestServeDemoKeepsOneConnectorAcrossStarts starts `serve --demo` twice on one data dir: the
// demo connector exists once, points at the directory of the running server (a new port each
// time) and tests successfully, and the demo's Floh users are seeded once. Plain serve on
// another data dir has none of it.
func TestServeDemoKeepsOneConnectorAcrossStarts(t *testing.T) {
	vars := map[string]string{"FLOH_DATA_DIR": dataDir(t), "FLOH_ADDR": freeAddr(t)}
	seeded := int64(len(engine.DemoUsers) + demoFlohUsers(t))
	var urls []string
	for start := 1; start <= 2; start++ {
		stop, out := serveInProcess(t, vars, "serve", "--demo")
		s := readDemoState(t, vars)
		stop()
		if len(s.connectors) != 1 || s.connectors[0].ID != engine.DemoConnectorID || s.connectors[0].Name != demoConnectorName ||
			s.connectors[0].Type != "ldap" || s.created != 1 {
			t.Fatalf("start %d: connectors %+v (created %d times), want the demo's alone, created once", start, s.connectors, s.created)
		}
		if s.test == nil || !s.test.Success || !strings.Contains(s.test.Message, "Bound to the LDAP directory at "+s.url) {
			t.Fatalf("start %d: testing the demo connector: %+v", start, s.test)
		}
		if s.users != seeded {
			t.Fatalf("start %d: %d users, want the %d demo sign-ins and the demo directory's", start, s.users, seeded)
		}
		line := regexp.MustCompile(`Demo directory: 3000 people at (ldap://127\.0\.0\.1:\d+), synced through the connector "Demo directory": http://\S+/connectors/` +
			engine.DemoConnectorID.String()).FindStringSubmatch(out.String())
		if line == nil || line[1] != s.url {
			t.Fatalf("start %d: the announcement names the directory at %s and its connector: %q", start, s.url, out.String())
		}
		urls = append(urls, s.url)
	}
	if urls[0] == urls[1] {
		t.Errorf("both starts served the directory at %s: want a free port each time", urls[0])
	}

	plain := map[string]string{"FLOH_DATA_DIR": dataDir(t), "FLOH_ADDR": freeAddr(t)}
	stop, out := serveInProcess(t, plain, "serve")
	s := readDemoState(t, plain)
	stop()
	if len(s.connectors) != 0 || s.users != int64(len(engine.DemoUsers)) || strings.Contains(out.String(), "Demo directory") {
		t.Fatalf("plain serve: connectors %+v, %d users, announcement %q: want no demo", s.connectors, s.users, out.String())
	}
}

// demoFlohUsers is how many Floh users the default demo directory seeds.
func demoFlohUsers(t *testing.T) int {
	t.Helper()
	d, err := demodir.Start(demodir.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Stop(context.Background())
	return len(d.FlohUsers())
}

func TestServeDemoIsRefusedInProduction(t *testing.T) {
	vars := map[string]string{
		"FLOH_ENV": "production", "OIDC_ISSUER": "https://idp.example.test/", "OIDC_CLIENT_ID": "floh",
		"OIDC_CLIENT_SECRET": "s", "FLOH_ENCRYPTION_KEY": strings.Repeat("ab", 32), "FLOH_BASE_URL": "https://floh.example.test",
		"FLOH_DATA_DIR": t.TempDir(),
	}
	_, _, err := runCmd(t, vars, "serve", "--demo")
	if _, ok := err.(usageError); !ok || !strings.Contains(fmt.Sprint(err), "--demo") {
		t.Fatalf("serve --demo in production: %v, want a usage error naming --demo", err)
	}
}
