package main

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"floh/engine"
	"floh/handlers"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestConfigDefaults(t *testing.T) {
	c, err := loadConfig(env(map[string]string{"FLOH_DATA_DIR": "/srv/floh"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != "127.0.0.1:8080" || c.BaseURL.String() != "http://127.0.0.1:8080" || c.Production || !c.devOIDC() || c.DataDir != "/srv/floh" {
		t.Fatalf("defaults: %+v", c)
	}
	c, _ = loadConfig(env(map[string]string{"FLOH_ADDR": "0.0.0.0:9000"}))
	if c.BaseURL.String() != "http://localhost:9000" {
		t.Fatalf("a wildcard address gets a browsable base URL: %s", c.BaseURL)
	}
}

func TestProductionRefusesToStartNamingWhatIsMissing(t *testing.T) {
	_, err := loadConfig(env(map[string]string{"FLOH_ENV": "production"}))
	if err == nil {
		t.Fatal("production without OIDC or a key must not start")
	}
	for _, name := range []string{"OIDC_ISSUER", "OIDC_CLIENT_ID", "OIDC_CLIENT_SECRET", "FLOH_ENCRYPTION_KEY"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error does not name %s: %v", name, err)
		}
	}
	_, err = loadConfig(env(map[string]string{
		"FLOH_ENV": "production", "OIDC_ISSUER": "https://idp.example.test", "OIDC_CLIENT_ID": "floh",
		"OIDC_CLIENT_SECRET": "s", "FLOH_ENCRYPTION_KEY": "abc",
	}))
	if err == nil || !strings.Contains(err.Error(), "FLOH_ENCRYPTION_KEY must be 64 hex") {
		t.Fatalf("a short key: %v", err)
	}
	c, err := loadConfig(env(map[string]string{
		"FLOH_ENV": "production", "OIDC_ISSUER": "https://idp.example.test/", "OIDC_CLIENT_ID": "floh",
		"OIDC_CLIENT_SECRET": "s", "FLOH_ENCRYPTION_KEY": strings.Repeat("ab", 32),
		"FLOH_BASE_URL": "https://floh.example.test",
	}))
	if err != nil || c.devOIDC() || c.OIDCIssuer != "https://idp.example.test" {
		t.Fatalf("complete production config: %v", err)
	}
}

func TestBadValuesAreNamed(t *testing.T) {
	_, err := loadConfig(env(map[string]string{
		"FLOH_ENV": "staging", "FLOH_ADDR": "8080", "FLOH_BASE_URL": "floh.example.test",
		"OIDC_ISSUER": "https://idp.example.test", "FLOH_ENCRYPTION_KEY_PREVIOUS": "zz",
	}))
	for _, name := range []string{"FLOH_ENV", "FLOH_ADDR", "FLOH_BASE_URL", "OIDC_CLIENT_ID", "OIDC_CLIENT_SECRET", "FLOH_ENCRYPTION_KEY_PREVIOUS"} {
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("error does not name %s: %v", name, err)
		}
	}
}

func TestDevelopmentKeysAreGeneratedOnceWithMode0600(t *testing.T) {
	dir := t.TempDir()
	c, err := loadConfig(env(map[string]string{"FLOH_DATA_DIR": dir}))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.resolveKeys(discard()); err != nil {
		t.Fatal(err)
	}
	first := c.EncryptionKey
	signing, err := c.devSigningKey(discard())
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"encryption.key", "dev-oidc-signing-key.pem"} {
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v mode %v", name, err, st.Mode())
		}
	}
	c2, _ := loadConfig(env(map[string]string{"FLOH_DATA_DIR": dir}))
	if err := c2.resolveKeys(discard()); err != nil {
		t.Fatal(err)
	}
	signing2, _ := c2.devSigningKey(discard())
	if string(c2.EncryptionKey) != string(first) || !signing.Equal(signing2) {
		t.Fatal("a restart must reuse the generated keys")
	}
	// A configured key wins over the file and derived keys differ per purpose.
	c3, _ := loadConfig(env(map[string]string{"FLOH_DATA_DIR": dir, "FLOH_ENCRYPTION_KEY": strings.Repeat("01", 32)}))
	if err := c3.resolveKeys(discard()); err != nil || string(c3.EncryptionKey) == string(first) {
		t.Fatalf("configured key: %v", err)
	}
	keys := c3.cookieKeys()
	if len(keys) != 2 || string(keys[0]) == string(keys[1]) {
		t.Fatal("cookie keys are two distinct derived keys")
	}
}

// A key file is written whole or not at all; an empty one, left by a write cut short, is
// generated again rather than stopping the start.
func TestKeyFilesAreWrittenWholeAndAnEmptyOneIsReplaced(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"encryption.key", "dev-oidc-signing-key.pem"} {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// What a process killed between creating its temporary file and the rename leaves.
	if err := os.WriteFile(filepath.Join(dir, ".encryption.key.123.tmp"), []byte("half"), 0o600); err != nil {
		t.Fatal(err)
	}
	var logged strings.Builder
	log := slog.New(slog.NewTextHandler(&logged, nil))
	c, _ := loadConfig(env(map[string]string{"FLOH_DATA_DIR": dir}))
	if err := c.resolveKeys(log); err != nil || len(c.EncryptionKey) != 32 {
		t.Fatalf("an empty encryption.key: %v", err)
	}
	if _, err := c.devSigningKey(log); err != nil {
		t.Fatalf("an empty signing key: %v", err)
	}
	for _, name := range []string{"encryption.key", "dev-oidc-signing-key.pem"} {
		if !strings.Contains(logged.String(), "key file is empty") || !strings.Contains(logged.String(), filepath.Join(dir, name)) {
			t.Errorf("the regenerated %s is not logged: %s", name, logged.String())
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if got := strings.Join(names, " "); got != "dev-oidc-signing-key.pem encryption.key" {
		t.Errorf("the data directory holds %s, want only the two keys", got)
	}
	c2, _ := loadConfig(env(map[string]string{"FLOH_DATA_DIR": dir}))
	if err := c2.resolveKeys(discard()); err != nil || string(c2.EncryptionKey) != string(c.EncryptionKey) {
		t.Fatalf("the regenerated key is kept: %v", err)
	}
}

// Processes starting together on a fresh data directory all use the one key generated.
func TestKeyFileIsGeneratedOnceByConcurrentStarts(t *testing.T) {
	dir := t.TempDir()
	var generated atomic.Int32
	keys := make([][]byte, 8)
	var wg sync.WaitGroup
	for i := range keys {
		wg.Go(func() {
			var err error
			keys[i], err = keyFile(dir, "encryption.key", func() ([]byte, error) {
				return fmt.Appendf(nil, "key %d\n", generated.Add(1)), nil
			}, discard())
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	for i, k := range keys {
		if string(k) != string(keys[0]) || len(k) == 0 {
			t.Errorf("start %d got %q, start 0 %q", i, k, keys[0])
		}
	}
	if n := generated.Load(); n != 1 {
		t.Errorf("the key was generated %d times", n)
	}
}

func TestConnectorSettings(t *testing.T) {
	c, err := loadConfig(env(map[string]string{"FLOH_MOCK_CONNECTORS": "true", "FLOH_HEALTH_INTERVAL": "90s"}))
	if err != nil || !c.MockConnectors || c.HealthInterval.String() != "1m30s" {
		t.Fatalf("connector settings: %+v %v", c, err)
	}
	c, _ = loadConfig(env(map[string]string{}))
	if c.MockConnectors || c.HealthInterval.String() != "5m0s" {
		t.Fatalf("defaults: mock %v, interval %s", c.MockConnectors, c.HealthInterval)
	}
	for v, name := range map[string]string{"yes": "FLOH_MOCK_CONNECTORS"} {
		if _, err := loadConfig(env(map[string]string{name: v})); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s=%s: %v", name, v, err)
		}
	}
	for _, v := range []string{"5", "1s", "48h", "soon"} {
		if _, err := loadConfig(env(map[string]string{"FLOH_HEALTH_INTERVAL": v})); err == nil || !strings.Contains(err.Error(), "FLOH_HEALTH_INTERVAL") {
			t.Errorf("FLOH_HEALTH_INTERVAL=%s: %v", v, err)
		}
	}
}

func TestRescueStuckJobsAfter(t *testing.T) {
	c, err := loadConfig(env(map[string]string{}))
	if err != nil || c.RescueStuckJobsAfter != engine.DefaultRescueStuckJobsAfter {
		t.Fatalf("default: %v %v", c, err)
	}
	c, err = loadConfig(env(map[string]string{"FLOH_RESCUE_STUCK_JOBS_AFTER": "45m"}))
	if err != nil || c.RescueStuckJobsAfter.String() != "45m0s" {
		t.Fatalf("45m: %v %v", c, err)
	}
	for _, v := range []string{"0s", "-1m", "45", "soon"} {
		if _, err := loadConfig(env(map[string]string{"FLOH_RESCUE_STUCK_JOBS_AFTER": v})); err == nil || !strings.Contains(err.Error(), "FLOH_RESCUE_STUCK_JOBS_AFTER") {
			t.Errorf("FLOH_RESCUE_STUCK_JOBS_AFTER=%s: %v", v, err)
		}
	}
}

func TestStuckRunTimeout(t *testing.T) {
	c, err := loadConfig(env(map[string]string{}))
	if err != nil || c.StuckRunTimeout != engine.DefaultStuckRunTimeout {
		t.Fatalf("default: %v %v", c, err)
	}
	c, err = loadConfig(env(map[string]string{"STUCK_RUN_TIMEOUT_MINUTES": "45"}))
	if err != nil || c.StuckRunTimeout.String() != "45m0s" {
		t.Fatalf("45: %v %v", c, err)
	}
	if o, err := c.engineOptions(nil, nil); err != nil || o.StuckRunTimeout != c.StuckRunTimeout {
		t.Fatalf("engine options: %v %v", o.StuckRunTimeout, err)
	}
	rows := settingsRows(c, "", "", false, nil)
	if i := slices.IndexFunc(rows, func(s handlers.Setting) bool { return s.Name == "STUCK_RUN_TIMEOUT_MINUTES" }); i < 0 || rows[i].Value != "45" {
		t.Fatalf("the settings page shows the effective timeout: %+v", rows)
	}
	for _, v := range []string{"0", "-5", "1.5", "30m", "soon", "99999999999999"} {
		if _, err := loadConfig(env(map[string]string{"STUCK_RUN_TIMEOUT_MINUTES": v})); err == nil || !strings.Contains(err.Error(), "STUCK_RUN_TIMEOUT_MINUTES") {
			t.Errorf("STUCK_RUN_TIMEOUT_MINUTES=%s: %v", v, err)
		}
	}
}
