package engine_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"floh/connectors/builtin"
	"floh/connectors/ldap/ldaptest"
	"floh/db"
	"floh/db/dbtest"
	"floh/engine"
	"floh/engine/sync"
)

// BenchmarkSync measures connector resource sync at directory scale (issue 7) through the
// engine, as a Sync now does: StartSync, then the run worked to its end as its River job
// works it, against a real slapd loaded with `slapadd -q` (ldaptest.WriteUsers' people: uid,
// cn, sn, givenName, displayName, mail) over LDAPS and a real PostgreSQL.
//
// For each directory size, users=100k and users=1M (select one with
// -bench 'BenchmarkSync/users=100k': loading a million people takes a while):
//
//   - initial: a full sync into an empty cache (every record added, all unmatched).
//   - unchanged: a full re-sync of the same directory. It asserts that the run wrote no row
//     (no row of sync_resources, users, user_profiles or external_identities has a newer
//     xmin, none is gone) and that its change report is empty.
//   - changed=1%: a full re-sync after every hundredth person's sn was modified in slapd;
//     exactly those are updated, one row and one report line each.
//   - match/initial: an initial full sync into a database of its own holding 100,000 Floh
//     users (copied in with COPY), half of whom have the email of a directory person (a
//     quarter of those in upper case); the default email strategy must match exactly those
//     50,000 and write their external identities.
//   - match/unchanged: the re-sync of that database, which matches every record again and
//     must write nothing.
//
// Each reports, per sync: wall-s (StartSync to the run's end), records/s, the phases' wall
// times as the Sync tab sees them (fetch-s: listing and staging; write-s: hash compare,
// writes, stale and purge; match-s: matching, identities, counts, the change report and the
// commit), the CPU time of this process, of PostgreSQL and of slapd (the machine's other
// work inflates wall times much more than these), the peak Go heap in use (objects and the
// free space of their spans, sampled every 5 ms) and the process's peak RSS (VmHWM, reset
// before each sync), the rows and report lines the run wrote, and the machine's load average
// over the minute before the sync (load-1m), which says how shared the cores were. Only the
// syncs are timed.
//
// The database is dbtest.NewDurable, a server of the benchmark's own with fsync and
// synchronous_commit on and PostgreSQL's default memory settings, as Floh's embedded server
// runs in production; FLOH_BENCH_DB=fast uses the shared test server (fsync off) instead, for
// comparison. Before each sync the tables a sync reads are vacuumed and analysed and a
// checkpoint is made, as autovacuum and the checkpointer do between two scheduled runs.
// FLOH_BENCH_PAGE_SIZE sets the connector's page size (default 1000, the connector's own).
// FLOH_BENCH_EXPLAIN=<dir> logs the plan, actual rows and times of every statement over
// 250 ms (auto_explain) into <dir>. FLOH_BENCH_PG_SETTINGS="max_wal_size=4GB,..." changes
// server settings that need no restart, to measure what they are worth.
//
// Why xmin rather than pg_stat_user_tables' n_tup_ins/n_tup_upd: PostgreSQL 15 backends
// flush their table counters at most once a second and up to ten seconds after going idle,
// so reading them right after the run would depend on timing. A row inserted or updated by
// the run carries the run's transaction id as its xmin at once.
func BenchmarkSync(b *testing.B) {
	for _, size := range []struct {
		name string
		n    int
	}{{"100k", 100_000}, {"1M", 1_000_000}} {
		n := size.n
		b.Run("users="+size.name, func(b *testing.B) {
			start := time.Now()
			s, err := ldaptest.StartLoaded(b.TempDir(), func(w io.Writer) error { return ldaptest.WriteUsers(w, n) })
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() {
				if err := s.Close(); err != nil {
					b.Errorf("stop slapd: %v", err)
				}
			})
			b.Logf("slapd holds %d people: slapadd -q and start took %s", n, time.Since(start).Round(time.Millisecond))
			env := newSyncBench(b, s, n)

			b.Run("initial", func(b *testing.B) {
				b.StopTimer()
				var m syncMeasure
				for range b.N {
					env.emptyCache(b)
					env.settle(b)
					run, st := env.sync(b, &m)
					if run.Status != db.SyncCompleted || st.Fetched != n || st.Added != n || st.Unmatched != n {
						b.Fatalf("initial sync: %s %+v %v", run.Status, st, run.Error)
					}
					m.written += env.since.written(b)
					m.lines += env.reportLines(b, run.ID)
				}
				m.report(b, n)
				b.ReportMetric(env.recordBytes(b), "record-bytes")
			})

			b.Run("unchanged", func(b *testing.B) {
				b.StopTimer()
				env.ensureSynced(b)
				var m syncMeasure
				for range b.N {
					env.settle(b)
					run, st := env.sync(b, &m)
					if run.Status != db.SyncCompleted || st.Unchanged != n || st.Added+st.Updated+st.Stale+st.Purged != 0 {
						b.Fatalf("unchanged re-sync: %s %+v %v", run.Status, st, run.Error)
					}
					if w, l := env.since.written(b), env.reportLines(b, run.ID); w != 0 || l != 0 {
						b.Fatalf("unchanged re-sync wrote %d rows and %d report lines, want none", w, l)
					}
				}
				m.report(b, n)
			})

			b.Run("changed=1%", func(b *testing.B) {
				b.StopTimer()
				env.ensureSynced(b)
				var m syncMeasure
				for i := range b.N {
					changed := env.modifyEveryHundredth(b, fmt.Sprintf("v%d", i))
					env.settle(b)
					run, st := env.sync(b, &m)
					if run.Status != db.SyncCompleted || st.Updated != changed || st.Unchanged != n-changed || st.Added+st.Stale != 0 {
						b.Fatalf("1%% changed: %s %+v %v", run.Status, st, run.Error)
					}
					w, l := env.since.written(b), env.reportLines(b, run.ID)
					if w != changed || l != changed {
						b.Fatalf("1%% changed wrote %d rows and %d report lines, want %d of each", w, l, changed)
					}
					m.written, m.lines = m.written+w, m.lines+l
				}
				m.report(b, n)
			})

			// Matching has a database of its own: its 100,000 Floh users must not be there
			// when the cases above match.
			b.Run("match", func(b *testing.B) {
				menv := newSyncBench(b, s, n)
				matching := menv.copyUsers(b, syncBenchFlohUsers)
				b.Run("initial", func(b *testing.B) {
					b.StopTimer()
					var m syncMeasure
					for range b.N {
						menv.emptyCache(b)
						menv.settle(b)
						run, st := menv.sync(b, &m)
						if run.Status != db.SyncCompleted || st.Added != n || st.MatchedExact != matching || st.Unmatched != n-matching || st.Ambiguous != 0 {
							b.Fatalf("match: %s %+v %v", run.Status, st, run.Error)
						}
						m.written += menv.since.written(b)
						m.lines += menv.reportLines(b, run.ID)
					}
					m.report(b, n)
				})
				b.Run("unchanged", func(b *testing.B) {
					b.StopTimer()
					menv.ensureSynced(b)
					var m syncMeasure
					for range b.N {
						menv.settle(b)
						run, st := menv.sync(b, &m)
						if run.Status != db.SyncCompleted || st.Unchanged != n || st.MatchedExact != matching {
							b.Fatalf("rematch: %s %+v %v", run.Status, st, run.Error)
						}
						if w, l := menv.since.written(b), menv.reportLines(b, run.ID); w != 0 || l != 0 {
							b.Fatalf("rematch wrote %d rows and %d report lines, want none", w, l)
						}
					}
					m.report(b, n)
				})
			})
		})
	}
}

// syncBenchFlohUsers is how many Floh users the match cases hold; half match a record.
const syncBenchFlohUsers = 100_000

// syncBench is an engine on a database of its own, with an LDAP connector to a loaded slapd.
type syncBench struct {
	*fixture
	slapd *ldaptest.Slapd
	n     int
	conn  *db.Connector
	// since is where the last sync began, for counting what it wrote.
	since writeMark
	// postmaster and slapdPID are the processes whose CPU time is measured.
	postmaster, slapdPID int
}

func newSyncBench(b *testing.B, s *ldaptest.Slapd, n int) *syncBench {
	b.Helper()
	reg, err := builtin.Registry()
	if err != nil {
		b.Fatal(err)
	}
	var d *db.DB
	switch os.Getenv("FLOH_BENCH_DB") {
	case "", "durable":
		d = dbtest.NewDurable(b)
	case "fast":
		d = dbtest.New(b)
	default:
		b.Fatalf("FLOH_BENCH_DB is durable or fast, not %q", os.Getenv("FLOH_BENCH_DB"))
	}
	if settings := os.Getenv("FLOH_BENCH_PG_SETTINGS"); settings != "" {
		configure(b, d, settings)
	}
	if dir := os.Getenv("FLOH_BENCH_EXPLAIN"); dir != "" {
		d = explainInto(b, d, dir)
	}
	pageSize := 1000
	if v := os.Getenv("FLOH_BENCH_PAGE_SIZE"); v != "" {
		if pageSize, err = strconv.Atoi(v); err != nil {
			b.Fatalf("FLOH_BENCH_PAGE_SIZE: %v", err)
		}
	}
	e := &syncBench{fixture: setupOn(b, d, func(o *engine.Options) { o.Connectors = reg }), slapd: s, n: n}
	e.conn, err = e.eng.CreateConnector(e.ctx, e.actor(), engine.ConnectorInput{Name: "Directory", Type: "ldap", Config: map[string]any{
		"url": s.LDAPSURL, "caCert": string(s.CAPEM), "bindDN": s.BindDN, "bindPassword": s.BindPassword,
		"baseDN": s.BaseDN, "userBaseDN": s.UserBaseDN, "groupBaseDN": s.GroupBaseDN, "pageSize": pageSize,
	}})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := e.eng.SaveSyncConfig(e.ctx, e.actor(), e.conn.ID, "user", sync.Config{}); err != nil {
		b.Fatal(err)
	}
	e.postmaster = postmasterPID(b, e.fixture)
	e.slapdPID = childNamed(b, "slapd")
	e.since.d = d
	return e
}

// configure applies server settings ("max_wal_size=4GB,checkpoint_timeout=15min") to d's
// server with ALTER SYSTEM, for measuring what they change; a setting that needs a restart
// is refused.
func configure(b *testing.B, d *db.DB, settings string) {
	b.Helper()
	for _, kv := range strings.Split(settings, ",") {
		name, value, ok := strings.Cut(kv, "=")
		if !ok {
			b.Fatalf("FLOH_BENCH_PG_SETTINGS: %q is not name=value", kv)
		}
		if _, err := d.Pool.Exec(context.Background(), `ALTER SYSTEM SET `+pgx.Identifier{strings.TrimSpace(name)}.Sanitize()+` = `+quoteLiteral(strings.TrimSpace(value))); err != nil {
			b.Fatalf("FLOH_BENCH_PG_SETTINGS %s: %v", kv, err)
		}
	}
	if _, err := d.Pool.Exec(context.Background(), `SELECT pg_reload_conf()`); err != nil {
		b.Fatal(err)
	}
	var pending []string
	rows, err := d.Pool.Query(context.Background(), `SELECT name FROM pg_settings WHERE pending_restart`)
	if err == nil {
		pending, err = pgx.CollectRows(rows, pgx.RowTo[string])
	}
	if err != nil || len(pending) > 0 {
		b.Fatalf("FLOH_BENCH_PG_SETTINGS: %v need a restart (%v)", pending, err)
	}
}

func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// explainInto makes PostgreSQL log the plan of every statement of d's server that runs 250 ms
// or longer, with its actual rows, times and buffers (auto_explain), and copies the server's
// log into dir when the benchmark ends. It answers a new pool on d's database, whose sessions
// load auto_explain.
func explainInto(b *testing.B, d *db.DB, dir string) *db.DB {
	b.Helper()
	ctx := context.Background()
	conn, err := d.Pool.Acquire(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Release()
	// ALTER SYSTEM knows auto_explain's settings once the session has loaded it.
	for _, stmt := range []string{
		`LOAD 'auto_explain'`,
		`ALTER SYSTEM SET session_preload_libraries = 'auto_explain'`,
		`ALTER SYSTEM SET auto_explain.log_min_duration = '250ms'`,
		`ALTER SYSTEM SET auto_explain.log_analyze = on`,
		`ALTER SYSTEM SET auto_explain.log_buffers = on`,
		`ALTER SYSTEM SET auto_explain.log_nested_statements = on`,
		`SELECT pg_reload_conf()`,
	} {
		if _, err := conn.Exec(ctx, stmt); err != nil {
			b.Fatalf("%s: %v", stmt, err)
		}
	}
	var dataDir string
	if err := conn.QueryRow(ctx, `SHOW data_directory`).Scan(&dataDir); err != nil {
		b.Fatal(err)
	}
	explained, err := db.Open(ctx, d.Pool.Config().ConnString())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		explained.Close()
		log, err := os.ReadFile(filepath.Join(dataDir, "postgresql.log"))
		if err == nil {
			err = os.WriteFile(filepath.Join(dir, strings.ReplaceAll(b.Name(), "/", "_")+".log"), log, 0o644)
		}
		if err != nil {
			b.Errorf("keep the server's log: %v", err)
		}
	})
	return explained
}

// childNamed is the PID of this process's child running the named program.
func childNamed(t testing.TB, name string) int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		if err != nil || strings.TrimSpace(string(comm)) != name {
			continue
		}
		if stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil && statField(t, stat, 4) == os.Getpid() {
			return pid
		}
	}
	t.Fatalf("no %s started by this process", name)
	return 0
}

// sync starts a full sync and works it to its end, timed and measured into m.
func (e *syncBench) sync(b *testing.B, m *syncMeasure) (*db.SyncRun, sync.Stats) {
	b.Helper()
	b.StopTimer()
	e.since.mark(b)
	probe := startProbe(b)
	m.load += loadAverage(b)
	goCPU, pgCPU, ldapCPU := processCPU(b, 0), postgresCPU(b, e.postmaster), processCPU(b, e.slapdPID)
	start := time.Now()
	b.StartTimer()
	run, err := e.eng.StartSync(e.ctx, e.actor(), e.conn.ID, "user", engine.SyncStart{})
	if err != nil {
		b.Fatal(err)
	}
	phases := watchPhases(e.db, run.ID)
	if err := e.eng.WorkSyncRun(e.ctx, run.ID); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	end := time.Now()
	seen := phases()
	m.goCPU += processCPU(b, 0) - goCPU
	m.pgCPU += postgresCPU(b, e.postmaster) - pgCPU
	m.slapdCPU += processCPU(b, e.slapdPID) - ldapCPU
	heap, rss := probe()
	m.peakHeap, m.peakRSS = max(m.peakHeap, heap), max(m.peakRSS, rss)
	m.wall += end.Sub(start)
	applying, matching := seen["applying"], seen["matching"]
	if !applying.IsZero() && !matching.IsZero() {
		m.fetch += applying.Sub(start)
		m.write += matching.Sub(applying)
		m.match += end.Sub(matching)
	}
	m.runs++

	run, err = e.eng.SyncRun(e.ctx, run.ID)
	if err != nil {
		b.Fatal(err)
	}
	var st sync.Stats
	if err := json.Unmarshal(run.Stats, &st); err != nil {
		b.Fatal(err)
	}
	return run, st
}

// watchPhases polls a run's phase until the returned function is called, which answers when
// each phase was first seen. The engine records each phase as it enters it, outside the
// apply transaction, for the progress bar; this reads it as the Sync tab does.
func watchPhases(d *db.DB, runID uuid.UUID) func() map[string]time.Time {
	seen := map[string]time.Time{}
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			var phase string
			if err := d.Pool.QueryRow(context.Background(), `SELECT phase FROM sync_runs WHERE id = $1`, runID).Scan(&phase); err == nil {
				if _, ok := seen[phase]; !ok {
					seen[phase] = time.Now()
				}
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	return func() map[string]time.Time {
		close(stop)
		<-done
		return seen
	}
}

// startProbe resets the process's peak RSS and samples the Go heap in use until the returned
// function is called, which answers both peaks in bytes.
func startProbe(b *testing.B) func() (heap, rss uint64) {
	b.Helper()
	// What the preparation left (the LDIF written for slapadd, the users copied in) is
	// collected and handed back to the OS first, and "5" resets VmHWM to the current RSS
	// (Linux 4.0+), so the peaks are this sync's.
	debug.FreeOSMemory()
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		b.Fatalf("reset peak RSS: %v", err)
	}
	samples := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/heap/unused:bytes"}}
	var peak uint64
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			// runtime/metrics reads without stopping the world.
			metrics.Read(samples)
			peak = max(peak, samples[0].Value.Uint64()+samples[1].Value.Uint64())
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	return func() (uint64, uint64) {
		close(stop)
		<-done
		return peak, peakRSS(b)
	}
}

// peakRSS is VmHWM from /proc/self/status, in bytes.
func peakRSS(t testing.TB) uint64 {
	t.Helper()
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatalf("VmHWM %q: %v", v, err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc/self/status")
	return 0
}

// syncMeasure accumulates the measures of a benchmark's syncs.
type syncMeasure struct {
	runs                      int
	wall, fetch, write, match time.Duration
	goCPU, pgCPU, slapdCPU    time.Duration
	peakHeap, peakRSS         uint64
	written, lines            int
	load                      float64
}

func (m *syncMeasure) report(b *testing.B, n int) {
	b.Helper()
	runs := float64(m.runs)
	per := func(d time.Duration) float64 { return d.Seconds() / runs }
	b.ReportMetric(per(m.wall), "wall-s")
	b.ReportMetric(float64(n)*runs/m.wall.Seconds(), "records/s")
	b.ReportMetric(per(m.fetch), "fetch-s")
	b.ReportMetric(per(m.write), "write-s")
	b.ReportMetric(per(m.match), "match-s")
	b.ReportMetric(per(m.goCPU), "go-cpu-s")
	b.ReportMetric(per(m.pgCPU), "pg-cpu-s")
	b.ReportMetric(per(m.slapdCPU), "slapd-cpu-s")
	b.ReportMetric(float64(m.peakHeap)/(1<<20), "peak-heap-MiB")
	b.ReportMetric(float64(m.peakRSS)/(1<<20), "peak-rss-MiB")
	b.ReportMetric(float64(m.written)/runs, "rows-written")
	b.ReportMetric(float64(m.lines)/runs, "report-lines")
	b.ReportMetric(m.load/runs, "load-1m")
}

// loadAverage is the machine's load average over the last minute, from /proc/loadavg: how
// much else wanted the cores when a sync started (the benchmark's own preparation included).
func loadAverage(t testing.TB) float64 {
	t.Helper()
	raw, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		t.Fatal(err)
	}
	load, err := strconv.ParseFloat(strings.Fields(string(raw))[0], 64)
	if err != nil {
		t.Fatalf("/proc/loadavg %q: %v", raw, err)
	}
	return load
}

// writeMark counts what a sync wrote to the tables a sync writes: rows whose xmin is a
// transaction at or after the mark were inserted or updated since, and rows that are gone
// from the count were updated or deleted.
type writeMark struct {
	d      *db.DB
	xid    int64
	counts map[string]int
}

var syncWrittenTables = []string{"sync_resources", "users", "user_profiles", "external_identities"}

func (w *writeMark) mark(t testing.TB) {
	t.Helper()
	ctx := context.Background()
	// The benchmark's own fresh server is far from xid wraparound, so a 64-bit transaction id
	// and a row's 32-bit xmin compare as numbers.
	if err := w.d.Pool.QueryRow(ctx, `SELECT pg_current_xact_id()::text::bigint`).Scan(&w.xid); err != nil {
		t.Fatal(err)
	}
	w.counts = map[string]int{}
	for _, table := range syncWrittenTables {
		var n int
		if err := w.d.Pool.QueryRow(ctx, `SELECT count(*) FROM `+table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		w.counts[table] = n
	}
}

// written counts the rows inserted, updated or deleted since the mark: per table the larger
// of the rows with a newer xmin (inserted or updated) and the rows of before that are not
// there unchanged any more (updated or deleted).
func (w *writeMark) written(t testing.TB) int {
	t.Helper()
	total := 0
	for _, table := range syncWrittenTables {
		var now, newer int
		err := w.d.Pool.QueryRow(context.Background(),
			`SELECT count(*), count(*) FILTER (WHERE xmin::text::bigint >= $1) FROM `+table, w.xid).Scan(&now, &newer)
		if err != nil {
			t.Fatal(err)
		}
		gone := w.counts[table] - (now - newer)
		total += max(newer, gone)
	}
	return total
}

func (e *syncBench) reportLines(t testing.TB, runID uuid.UUID) int {
	t.Helper()
	counts, err := db.CountSyncChanges(e.ctx, e.db.Bun, runID)
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, n := range counts {
		total += n
	}
	return total
}

// emptyCache removes what earlier syncs cached, so the next one is an initial sync; the
// users the match cases copied in stay.
func (e *syncBench) emptyCache(t testing.TB) {
	t.Helper()
	if _, err := e.db.Pool.Exec(e.ctx, `TRUNCATE sync_resources, sync_changes, external_identities`); err != nil {
		t.Fatal(err)
	}
}

// ensureSynced runs an untimed initial sync unless the cache holds the whole directory, for a
// re-sync case selected on its own.
func (e *syncBench) ensureSynced(b *testing.B) {
	b.Helper()
	live, err := db.CountLiveSyncResources(e.ctx, e.db.Bun, e.conn.ID, "user")
	if err != nil {
		b.Fatal(err)
	}
	if live == e.n {
		return
	}
	e.emptyCache(b)
	var m syncMeasure
	if run, _ := e.sync(b, &m); run.Status != db.SyncCompleted {
		b.Fatalf("initial sync: %s %v", run.Status, run.Error)
	}
	b.ResetTimer()
}

// settle vacuums and analyses the tables a sync reads, as autovacuum does between two
// scheduled runs, and ends the checkpoint the last run's writes started, so that a re-sync
// neither races autovacuum over what the last one wrote nor shares the disk with its
// checkpoint.
func (e *syncBench) settle(t testing.TB) {
	t.Helper()
	for _, stmt := range []string{`VACUUM (ANALYZE) sync_resources, users, external_identities`, `CHECKPOINT`} {
		if _, err := e.db.Pool.Exec(e.ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
}

// recordBytes is the average size of a cached record's row.
func (e *syncBench) recordBytes(t testing.TB) float64 {
	t.Helper()
	var avg float64
	if err := e.db.Pool.QueryRow(e.ctx, `SELECT coalesce(avg(pg_column_size(r.*)), 0) FROM sync_resources r`).Scan(&avg); err != nil {
		t.Fatal(err)
	}
	return avg
}

// modifyEveryHundredth replaces the sn of every hundredth person (user000100, user000200, …)
// with a value made of tag, over four connections at once, and answers how many changed.
func (e *syncBench) modifyEveryHundredth(b *testing.B, tag string) int {
	b.Helper()
	const workers = 4
	todo := make(chan int)
	errs := make(chan error, workers)
	var wg gosync.WaitGroup
	for range workers {
		c, err := e.slapd.Dial()
		if err != nil {
			b.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			for i := range todo {
				req := ldap.NewModifyRequest(fmt.Sprintf("uid=user%06d,%s", i, e.slapd.UserBaseDN), nil)
				req.Replace("sn", []string{fmt.Sprintf("%d-%s", i, tag)})
				if err := c.Modify(req); err != nil {
					errs <- fmt.Errorf("modify user%06d: %w", i, err)
					for range todo {
					}
					return
				}
			}
		}()
	}
	changed := 0
	for i := 100; i <= e.n; i += 100 {
		todo <- i
		changed++
	}
	close(todo)
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	return changed
}

// copyUsers copies n active Floh users into the database with COPY and answers how many of
// them a directory person's email matches: every even one has the email of the person of
// its number (every fourth in upper case, which matching must ignore), every odd one an
// email of another domain.
func (e *syncBench) copyUsers(b *testing.B, n int) int {
	b.Helper()
	now := time.Now().UTC()
	matching := 0
	rows := make([][]any, 0, n)
	for i := 1; i <= n; i++ {
		email := fmt.Sprintf("person%06d@elsewhere.test", i)
		if i%2 == 0 {
			email = fmt.Sprintf("user%06d@example.test", i)
			if i%4 == 0 {
				email = strings.ToUpper(email)
			}
			matching++
		}
		rows = append(rows, []any{uuid.New(), "https://idp.example.test", uuid.NewString(), email, fmt.Sprintf("Person %d", i), true, true, now, now})
	}
	_, err := e.db.Pool.CopyFrom(e.ctx, pgx.Identifier{"users"},
		[]string{"id", "iss", "sub", "email", "display_name", "confirmed", "active", "created_at", "updated_at"}, pgx.CopyFromRows(rows))
	if err != nil {
		b.Fatal(err)
	}
	return matching
}
