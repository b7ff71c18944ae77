package main

import (
	"crypto/hkdf"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"log/slog"

	"floh/connectors/builtin"
	"floh/db"
	"floh/engine"
)

// config is the process configuration, read from the environment (README: Configuration).
type config struct {
	Addr        string
	BaseURL     *url.URL
	Production  bool
	DataDir     string
	DatabaseURL string

	OIDCIssuer       string
	OIDCClientID     string
	OIDCClientSecret string

	// EncryptionKey is 32 bytes; EncryptionKeyPrevious is set during a key rotation.
	EncryptionKey         []byte
	EncryptionKeyPrevious []byte
	// EncryptionKeySource says where the key came from, for the settings page.
	EncryptionKeySource string

	SMTPURL string

	// MockConnectors puts every connector in mock mode (FLOH_MOCK_CONNECTORS=true), e.g. for a
	// staging copy that must never touch real directories.
	MockConnectors bool
	// HealthInterval is how often enabled connectors are tested (FLOH_HEALTH_INTERVAL).
	HealthInterval time.Duration
	// RescueStuckJobsAfter is how long a job may stay running before it is taken for dead
	// and worked again (FLOH_RESCUE_STUCK_JOBS_AFTER).
	RescueStuckJobsAfter time.Duration
	// StuckRunTimeout fails a pending or running run that makes no progress for this long
	// (STUCK_RUN_TIMEOUT_MINUTES).
	StuckRunTimeout time.Duration
}

// devOIDC reports whether the built-in development provider serves logins.
func (c *config) devOIDC() bool { return c.OIDCIssuer == "" && !c.Production }

func defaultDataDir() string {
	if os.Geteuid() == 0 {
		return "/var/lib/floh"
	}
	return ".floh"
}

// loadConfig reads and checks the environment. Every problem is reported at once, naming the
// variable, so an operator fixes them in one go.
func loadConfig(getenv func(string) string) (*config, error) {
	var problems []string
	c := &config{
		Addr:             orDefault(getenv("FLOH_ADDR"), "127.0.0.1:8080"),
		DataDir:          orDefault(getenv("FLOH_DATA_DIR"), defaultDataDir()),
		DatabaseURL:      getenv("DATABASE_URL"),
		OIDCIssuer:       strings.TrimRight(getenv("OIDC_ISSUER"), "/"),
		OIDCClientID:     getenv("OIDC_CLIENT_ID"),
		OIDCClientSecret: getenv("OIDC_CLIENT_SECRET"),
		SMTPURL:          getenv("SMTP_URL"),
	}
	switch env := orDefault(getenv("FLOH_ENV"), "development"); env {
	case "development":
	case "production":
		c.Production = true
	default:
		problems = append(problems, fmt.Sprintf("FLOH_ENV must be development or production, not %q", env))
	}
	host, port, err := net.SplitHostPort(c.Addr)
	if err != nil || port == "" {
		problems = append(problems, fmt.Sprintf("FLOH_ADDR %q must be host:port, e.g. 127.0.0.1:8080", c.Addr))
	}
	base := getenv("FLOH_BASE_URL")
	if base == "" {
		if host == "" || host == "0.0.0.0" || host == "::" {
			host = "localhost"
		}
		base = "http://" + net.JoinHostPort(host, port)
	}
	c.BaseURL, err = url.Parse(strings.TrimRight(base, "/"))
	if err != nil || (c.BaseURL.Scheme != "http" && c.BaseURL.Scheme != "https") || c.BaseURL.Host == "" {
		problems = append(problems, fmt.Sprintf("FLOH_BASE_URL %q must be an absolute http(s) URL, e.g. https://floh.example.com", base))
	}
	if abs, err := filepath.Abs(c.DataDir); err == nil {
		c.DataDir = abs
	}
	if key := getenv("FLOH_ENCRYPTION_KEY"); key != "" {
		if c.EncryptionKey, err = parseKey(key); err != nil {
			problems = append(problems, "FLOH_ENCRYPTION_KEY "+err.Error())
		}
		c.EncryptionKeySource = "FLOH_ENCRYPTION_KEY"
	}
	if key := getenv("FLOH_ENCRYPTION_KEY_PREVIOUS"); key != "" {
		if c.EncryptionKeyPrevious, err = parseKey(key); err != nil {
			problems = append(problems, "FLOH_ENCRYPTION_KEY_PREVIOUS "+err.Error())
		}
	}
	switch v := getenv("FLOH_MOCK_CONNECTORS"); v {
	case "", "false":
	case "true":
		c.MockConnectors = true
	default:
		problems = append(problems, fmt.Sprintf("FLOH_MOCK_CONNECTORS must be true or false, not %q", v))
	}
	c.HealthInterval = engine.DefaultHealthInterval
	if v := getenv("FLOH_HEALTH_INTERVAL"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 10*time.Second || d > 24*time.Hour {
			problems = append(problems, fmt.Sprintf("FLOH_HEALTH_INTERVAL must be a duration between 10s and 24h such as 5m, not %q", v))
		}
		c.HealthInterval = d
	}
	c.RescueStuckJobsAfter = engine.DefaultRescueStuckJobsAfter
	if v := getenv("FLOH_RESCUE_STUCK_JOBS_AFTER"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			problems = append(problems, fmt.Sprintf("FLOH_RESCUE_STUCK_JOBS_AFTER must be a positive duration such as 1h (keep it above the longest step timeout), not %q", v))
		}
		c.RescueStuckJobsAfter = d
	}
	c.StuckRunTimeout = engine.DefaultStuckRunTimeout
	if v := getenv("STUCK_RUN_TIMEOUT_MINUTES"); v != "" {
		// Whole minutes, as documented; the upper bound only keeps the duration from overflowing.
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 || n > int64(math.MaxInt64/time.Minute) {
			problems = append(problems, fmt.Sprintf("STUCK_RUN_TIMEOUT_MINUTES must be a positive whole number of minutes such as 30, not %q", v))
		}
		c.StuckRunTimeout = time.Duration(n) * time.Minute
	}
	if c.OIDCIssuer != "" {
		if u, err := url.Parse(c.OIDCIssuer); err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
			problems = append(problems, fmt.Sprintf("OIDC_ISSUER %q must be the provider's issuer URL", c.OIDCIssuer))
		}
		if c.OIDCClientID == "" {
			problems = append(problems, "OIDC_CLIENT_ID is required with OIDC_ISSUER")
		}
		if c.OIDCClientSecret == "" {
			problems = append(problems, "OIDC_CLIENT_SECRET is required with OIDC_ISSUER")
		}
	}
	if c.Production {
		for _, name := range []string{"OIDC_ISSUER", "OIDC_CLIENT_ID", "OIDC_CLIENT_SECRET"} {
			named := slices.ContainsFunc(problems, func(p string) bool { return strings.HasPrefix(p, name) })
			if getenv(name) == "" && !named {
				problems = append(problems, name+" is required in production")
			}
		}
		if getenv("FLOH_ENCRYPTION_KEY") == "" {
			problems = append(problems, "FLOH_ENCRYPTION_KEY is required in production (64 hex characters; generate one with: openssl rand -hex 32)")
		}
	}
	if len(problems) > 0 {
		return nil, errors.New("configuration is not usable:\n  - " + strings.Join(problems, "\n  - "))
	}
	return c, nil
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

func parseKey(s string) ([]byte, error) {
	b, err := hex.DecodeString(strings.TrimSpace(s))
	if err != nil || len(b) != 32 {
		return nil, errors.New("must be 64 hex characters (32 bytes); generate one with: openssl rand -hex 32")
	}
	return b, nil
}

// ensureDataDir creates the data directory (0711: the postgres user must be able to pass
// through it to the cluster, but not list it).
func ensureDataDir(dir string) error {
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o711); err != nil {
			return fmt.Errorf("create data directory %s: %w", dir, err)
		}
		return os.Chmod(dir, 0o711)
	} else if err != nil {
		return fmt.Errorf("data directory %s: %w", dir, err)
	}
	return nil
}

// keyFile returns the content of a key file in the data directory, creating it with gen on
// first use (mode 0600), so development restarts keep sessions and secrets readable. The file
// appears whole or not at all: a process killed halfway must not leave a file that stops
// every later start.
func keyFile(dir, name string, gen func() ([]byte, error), log *slog.Logger) ([]byte, error) {
	path := filepath.Join(dir, name)
	// Several floh processes may start on one fresh data directory (serve and a CLI command):
	// the directory's lock lets one of them generate the key and the others read it.
	d, err := os.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("open data directory %s: %w", dir, err)
	}
	defer d.Close() // and unlocks
	if err := syscall.Flock(int(d.Fd()), syscall.LOCK_EX); err != nil {
		return nil, fmt.Errorf("lock data directory %s: %w", dir, err)
	}
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("read %s: %w", path, err)
	case len(b) > 0:
		return b, nil
	default:
		// An empty file is never a key: it is a write cut short, by a floh that wrote key
		// files in place or by a crash before the filesystem stored the content.
		log.Warn("key file is empty, generating a new key", "path", path)
	}
	// Temporary files of a process killed before its rename; the lock says none is in use.
	stale, _ := filepath.Glob(filepath.Join(dir, "."+name+".*.tmp"))
	for _, p := range stale {
		os.Remove(p)
	}
	if b, err = gen(); err != nil {
		return nil, err
	}
	if err := writeKeyFile(d, path, b); err != nil {
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	return b, nil
}

// writeKeyFile puts b at path, in dir, whole: written to a temporary file beside it and
// synced, then renamed over path, then the directory synced so the rename survives a crash.
func writeKeyFile(dir *os.File, path string, b []byte) (err error) {
	// CreateTemp makes the file 0600, which the key keeps after the rename.
	f, err := os.CreateTemp(dir.Name(), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			os.Remove(f.Name())
		}
	}()
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return err
	}
	return dir.Sync()
}

// resolveKeys fills in what development may generate: the encryption key.
func (c *config) resolveKeys(log *slog.Logger) error {
	if c.EncryptionKey != nil {
		return nil
	}
	raw, err := keyFile(c.DataDir, "encryption.key", func() ([]byte, error) {
		k := make([]byte, 32)
		if _, err := rand.Read(k); err != nil {
			return nil, err
		}
		return []byte(hex.EncodeToString(k) + "\n"), nil
	}, log)
	if err != nil {
		return err
	}
	if c.EncryptionKey, err = parseKey(string(raw)); err != nil {
		return fmt.Errorf("%s: %w", filepath.Join(c.DataDir, "encryption.key"), err)
	}
	c.EncryptionKeySource = filepath.Join(c.DataDir, "encryption.key") + " (generated for development)"
	return nil
}

// deriveKey derives an independent key for one purpose from the encryption key, so the same
// secret never serves two algorithms.
func deriveKey(master []byte, purpose string, n int) []byte {
	k, err := hkdf.Key(sha256.New, master, nil, "floh "+purpose, n)
	if err != nil {
		panic(err) // only for n beyond 255*32 bytes
	}
	return k
}

// cookieKeys are the handshake cookie's (hash, block) pairs: current key first, previous next.
func (c *config) cookieKeys() [][]byte {
	keys := [][]byte{deriveKey(c.EncryptionKey, "oidc handshake hmac", 32), deriveKey(c.EncryptionKey, "oidc handshake aes", 32)}
	if c.EncryptionKeyPrevious != nil {
		keys = append(keys, deriveKey(c.EncryptionKeyPrevious, "oidc handshake hmac", 32),
			deriveKey(c.EncryptionKeyPrevious, "oidc handshake aes", 32))
	}
	return keys
}

// devSigningKey is the development provider's RSA key, kept in the data directory.
func (c *config) devSigningKey(log *slog.Logger) (*rsa.PrivateKey, error) {
	raw, err := keyFile(c.DataDir, "dev-oidc-signing-key.pem", func() ([]byte, error) {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return nil, err
		}
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			return nil, err
		}
		return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
	}, log)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(raw)
	if block == nil {
		return nil, fmt.Errorf("%s is not a PEM key", filepath.Join(c.DataDir, "dev-oidc-signing-key.pem"))
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse development signing key: %w", err)
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, errors.New("development signing key is not an RSA key")
	}
	return rk, nil
}

// engineOptions is the engine configuration shared by serve and the CLI commands. Connector
// secrets get their own key derived from the encryption key.
func (c *config) engineOptions(d *db.DB, log *slog.Logger) (engine.Options, error) {
	reg, err := builtin.Registry()
	if err != nil {
		return engine.Options{}, err
	}
	o := engine.Options{
		DB: d, Logger: log, BaseURL: c.BaseURL.String(), Connectors: reg,
		SecretKey:      deriveKey(c.EncryptionKey, "connector secrets", 32),
		MockConnectors: c.MockConnectors, HealthInterval: c.HealthInterval,
		RescueStuckJobsAfter: c.RescueStuckJobsAfter, StuckRunTimeout: c.StuckRunTimeout,
	}
	if c.EncryptionKeyPrevious != nil {
		o.SecretKeyPrevious = deriveKey(c.EncryptionKeyPrevious, "connector secrets", 32)
	}
	return o, nil
}
