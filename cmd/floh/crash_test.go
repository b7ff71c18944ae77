package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"floh/db"
	"floh/db/dbtest"
	"floh/engine/workflow"
)

// serveChildEnv makes the test binary, re-executed by the crash test, run `floh serve` through
// the real main: a SIGKILL then hits what production runs, and no second binary is built.
const serveChildEnv = "FLOH_TEST_SERVE_CHILD"

func serveChild() {
	os.Args = []string{os.Args[0], "serve"}
	main()
	os.Exit(0)
}

const (
	crashKills = 20
	// crashRunsPerLife runs are started through the API in every life of the server but the
	// last, enough that a kill a moment later finds steps in flight.
	crashRunsPerLife = 20
	crashCallSteps   = 6
	// crashStepsPerRun: start, the calls, a delay (its wake-up is a scheduled job, and the
	// step resumes in another job), end.
	crashStepsPerRun = crashCallSteps + 3
	// crashRescueAfter is FLOH_RESCUE_STUCK_JOBS_AFTER: far below the default step timeout,
	// which production must not do, but the sink answers within crashMaxLatency. An attempt
	// that a busy machine still makes longer is cut off and made again, which the checks
	// allow: it is claimed again, as after a kill.
	crashRescueAfter = 2 * time.Second
	crashMaxLatency  = 200 * time.Millisecond
	// crashMaxLife bounds the random moment of a kill after a life's runs were started.
	crashMaxLife = 1500 * time.Millisecond
)

// 20 SIGKILLs of a `floh serve` process at random moments while runs are in flight, each
// followed by a restart: every run completes, and no step completes twice. The server uses
// DATABASE_URL on the test binary's own PostgreSQL, which no kill touches, and calls an HTTP
// sink in the test process. A killed server leaves its jobs running; River's rescuer (on
// whichever server is leader) hands them back after FLOH_RESCUE_STUCK_JOBS_AFTER, and the
// step worker takes its claim up again.
func TestServeSurvivesSIGKILLs(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("FLOH_CRASH_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("FLOH_CRASH_SEED=%q: %v", s, err)
		}
	}
	// The seed fixes the kill moments and the sink's latencies, not how goroutines and
	// processes interleave: a failure may need several tries to reproduce.
	t.Logf("seed %d (FLOH_CRASH_SEED=%d repeats its kill moments)", seed, seed)
	rng := &lockedRand{r: mrand.New(mrand.NewPCG(seed, seed))}
	began := time.Now()
	ctx := context.Background()

	sink := newCallSink(rng)
	srv := httptest.NewServer(sink)
	t.Cleanup(srv.Close)

	url := dbtest.NewEmpty(t)
	addr := freeAddr(t)
	vars := map[string]string{
		"DATABASE_URL": url, "FLOH_ADDR": addr, "FLOH_DATA_DIR": t.TempDir(),
		"FLOH_ENCRYPTION_KEY":          randomHex(t),
		"FLOH_RESCUE_STUCK_JOBS_AFTER": crashRescueAfter.String(),
	}
	if out, _, err := runCmd(t, vars, "migrate"); err != nil {
		t.Fatalf("migrate: %v %s", err, out)
	}
	if _, _, err := runCmd(t, vars, "user", "add", "--email", "ops@example.test", "--roles", "Admin"); err != nil {
		t.Fatal(err)
	}
	out, _, err := runCmd(t, vars, "token", "create", "--email", "ops@example.test", "--name", "crash test")
	if err != nil {
		t.Fatal(err)
	}
	api := &apiClient{t: t, base: "http://" + addr, token: strings.TrimSpace(out),
		http: http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: time.Minute}}
	d, err := db.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)

	logPath := filepath.Join(t.TempDir(), "serve.log")
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(logTail(logPath))
		}
	})
	s := startServe(t, vars, logPath)
	wf := publishCallChain(t, api, srv.URL)

	t.Logf("server up, workflow published at %s", time.Since(began).Round(time.Millisecond))
	var runIDs []string
	life := time.Now()
	for kill := 1; kill <= crashKills; kill++ {
		for range crashRunsPerLife {
			var started struct {
				RunID string `json:"runId"`
			}
			api.do("POST", "/api/workflows/"+wf+"/start", map[string]any{}, http.StatusCreated, &started)
			runIDs = append(runIDs, started.RunID)
		}
		time.Sleep(rng.duration(crashMaxLife))
		var working, stuck, open int
		if err := d.Pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE attempted_at >= $1), count(*) FILTER (WHERE attempted_at < $1),
			(SELECT count(*) FROM runs WHERE status IN ('pending', 'running', 'waiting'))
			FROM river_job WHERE state = 'running'`, life).Scan(&working, &stuck, &open); err != nil {
			t.Fatal(err)
		}
		s.kill()
		t.Logf("kill %d at %s: %d jobs of this life running, %d left running by earlier kills, %d runs open",
			kill, time.Since(began).Round(time.Millisecond), working, stuck, open)
		if kill == crashKills {
			// The last restart's rescuer then finds every job the kills left running old
			// enough to rescue on its first pass, rather than 30 s later on its next.
			time.Sleep(crashRescueAfter)
		}
		life = time.Now()
		s = startServe(t, vars, logPath)
	}

	waitCrashDrained(t, d, 4*time.Minute)
	t.Logf("drained at %s", time.Since(began).Round(time.Millisecond))
	s.stop()

	dbtest.WantCompletedOnce(t, d, len(runIDs), crashStepsPerRun)
	var missing, rescued int
	if err := d.Pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM runs WHERE NOT id = ANY($1::uuid[])),
		(SELECT count(*) FROM river_job WHERE EXISTS (SELECT FROM unnest(errors) AS e WHERE e->>'error' LIKE 'Stuck job rescued%'))`, runIDs).Scan(&missing, &rescued); err != nil {
		t.Fatal(err)
	}
	if missing != 0 {
		t.Fatalf("%d runs that the API did not start", missing)
	}
	// Without a job left running by a kill, the test would not have tested recovery.
	if rescued == 0 {
		t.Fatal("no kill left a job running for River to rescue")
	}
	repeated, reclaimed := wantCallsClaimed(t, d, sink)
	t.Logf("%d runs, %d step executions, each completed once; %d jobs rescued, %d attempts taken up again, %d calls repeated after a kill",
		len(runIDs), len(runIDs)*crashStepsPerRun, rescued, reclaimed, repeated)
}

// wantCallsClaimed checks the sink against the timeline: every call step reached the sink,
// and no more often than its attempt was claimed. A kill during a call makes the rescued job
// claim the attempt again (a step_started entry) and call again, with the same idempotency
// key; a call without a claim would be a step worked twice. It returns how many calls were
// repeats and how many claims were taken up again.
func wantCallsClaimed(t *testing.T, d *db.DB, sink *callSink) (repeated, reclaimed int) {
	t.Helper()
	rows, err := d.Pool.Query(context.Background(), `SELECT se.run_id::text, se.step_id, count(*)
		FROM step_executions se JOIN run_timeline tl ON tl.step_execution_id = se.id AND tl.kind = 'step_started'
		WHERE se.step_type = 'connector' GROUP BY se.run_id, se.step_id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	calls := sink.snapshot()
	steps := 0
	for rows.Next() {
		var run, step string
		var claims int
		if err := rows.Scan(&run, &step, &claims); err != nil {
			t.Fatal(err)
		}
		steps++
		key := run + "/" + step
		n := calls[key]
		if n < 1 || n > claims {
			t.Errorf("step %s was called %d times for %d claims of its attempt", key, n, claims)
		}
		repeated += n - 1
		reclaimed += claims - 1
		delete(calls, key)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(calls) != 0 {
		t.Errorf("calls for no claimed step: %v", calls)
	}
	if steps == 0 {
		t.Fatal("no call step was claimed")
	}
	return repeated, reclaimed
}

// waitCrashDrained waits until every run has finished and River has no job left to work,
// so that a job rescued after its step had completed has been delivered again too.
func waitCrashDrained(t *testing.T, d *db.DB, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		var open, jobs int
		if err := d.Pool.QueryRow(context.Background(), `SELECT
			(SELECT count(*) FROM runs WHERE status IN ('pending', 'running', 'waiting')),
			(SELECT count(*) FROM river_job WHERE state NOT IN ('completed', 'cancelled', 'discarded'))`).Scan(&open, &jobs); err != nil {
			t.Fatal(err)
		}
		if open == 0 && jobs == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s, %d runs are still open and %d River jobs unfinished (%s)", limit, open, jobs, jobStates(t, d))
		}
		time.Sleep(100 * time.Millisecond)
	}
	var gaveUp int
	if err := d.Pool.QueryRow(context.Background(),
		`SELECT count(*) FROM river_job WHERE state IN ('cancelled', 'discarded')`).Scan(&gaveUp); err != nil {
		t.Fatal(err)
	}
	if gaveUp != 0 {
		t.Fatalf("River gave up on %d jobs (%s)", gaveUp, jobStates(t, d))
	}
}

func jobStates(t *testing.T, d *db.DB) string {
	t.Helper()
	var states string
	if err := d.Pool.QueryRow(context.Background(), `SELECT coalesce(string_agg(state || ': ' || n, ', '), 'none')
		FROM (SELECT state::text, count(*) AS n FROM river_job GROUP BY state ORDER BY state) AS s`).Scan(&states); err != nil {
		t.Fatal(err)
	}
	return "River jobs by state: " + states
}

// logTail is the end of the servers' log, for a failure message.
func logTail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("server log: %v", err)
	}
	const keep = 8000
	if len(b) > keep {
		b = b[len(b)-keep:]
	}
	return "server log (end):\n" + string(b)
}

// publishCallChain publishes start → crashCallSteps HTTP calls to the sink → a one-second
// delay → end, through the API.
func publishCallChain(t *testing.T, api *apiClient, sinkURL string) string {
	t.Helper()
	var conn struct {
		ID string `json:"id"`
	}
	api.do("POST", "/api/connectors", map[string]any{
		"name": "Sink", "type": "http",
		"config": map[string]any{"baseUrl": sinkURL, "allowPrivateNetworks": true},
	}, http.StatusCreated, &conn)
	def := workflow.Definition{Name: "Crash test", Variables: []workflow.Variable{},
		Steps: []workflow.Step{{ID: "start", Name: "Start", Type: workflow.TypeStart}}}
	prev := "start"
	for i := 1; i <= crashCallSteps; i++ {
		id := fmt.Sprintf("call%d", i)
		def.Steps = append(def.Steps, workflow.Step{ID: id, Name: id, Type: workflow.TypeConnector, Config: map[string]any{
			"connectorId": conn.ID, "command": "request",
			"params": map[string]any{"method": "POST", "url": "/calls/{{run.id}}/" + id},
		}})
		def.Edges = append(def.Edges, workflow.Edge{From: prev, To: id, On: workflow.OnSuccess})
		prev = id
	}
	def.Steps = append(def.Steps,
		workflow.Step{ID: "pause", Name: "Pause", Type: workflow.TypeDelay, Config: map[string]any{"duration": "1s"}},
		workflow.Step{ID: "end", Name: "End", Type: workflow.TypeEnd})
	def.Edges = append(def.Edges, workflow.Edge{From: prev, To: "pause", On: workflow.OnSuccess},
		workflow.Edge{From: "pause", To: "end", On: workflow.OnSuccess})
	var wf struct {
		ID string `json:"id"`
	}
	api.do("POST", "/api/workflows", def, http.StatusCreated, &wf)
	api.do("POST", "/api/workflows/"+wf.ID+"/publish", nil, http.StatusOK, nil)
	return wf.ID
}

// serveProcess is one life of `floh serve`.
type serveProcess struct {
	t      *testing.T
	cmd    *exec.Cmd
	exited chan struct{}
	err    error // how it exited, set before exited is closed
}

// startServe starts the test binary as `floh serve` with vars, appending its output to
// logPath, and waits until it answers. Cleanup kills it if the test has not.
func startServe(t *testing.T, vars map[string]string, logPath string) *serveProcess {
	t.Helper()
	logFile, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	cmd := exec.Command(os.Args[0])
	cmd.Env = childEnv(vars)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatalf("start floh serve: %v", err)
	}
	p := &serveProcess{t: t, cmd: cmd, exited: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.exited
	})
	early := make(chan error, 1)
	go func() {
		<-p.exited
		early <- p.err
	}()
	waitHealthy(t, "http://"+vars["FLOH_ADDR"], early)
	return p
}

// kill sends SIGKILL and waits until the process is gone.
func (p *serveProcess) kill() {
	p.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		p.t.Fatalf("kill floh serve: %v", err)
	}
	<-p.exited
}

// stop asks the server to shut down as an operator would, and wants a clean exit.
func (p *serveProcess) stop() {
	p.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		p.t.Fatalf("stop floh serve: %v", err)
	}
	select {
	case <-p.exited:
		if p.err != nil {
			p.t.Fatalf("floh serve exited with %v on SIGTERM", p.err)
		}
	case <-time.After(60 * time.Second):
		p.t.Fatal("floh serve did not stop within 60 s of SIGTERM")
	}
}

// childEnv is the test's environment without Floh's settings, plus vars and the marker that
// makes the test binary `floh serve`.
func childEnv(vars map[string]string) []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "FLOH_") || strings.HasPrefix(name, "OIDC_") || strings.HasSuffix(name, "DATABASE_URL") || name == "SMTP_URL" {
			continue
		}
		env = append(env, kv)
	}
	for k, v := range vars {
		env = append(env, k+"="+v)
	}
	return append(env, serveChildEnv+"=1")
}

// callSink is the target of the workflow's HTTP steps. It answers after a random short
// latency, so that kills land during calls, and counts the calls per run and step.
type callSink struct {
	rng   *lockedRand
	mu    sync.Mutex
	calls map[string]int // "<run id>/<step id>" → calls
}

func newCallSink(rng *lockedRand) *callSink {
	return &callSink{rng: rng, calls: map[string]int{}}
}

func (s *callSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	key, ok := strings.CutPrefix(r.URL.Path, "/calls/")
	if !ok || r.Method != http.MethodPost {
		http.NotFound(w, r)
		return
	}
	s.mu.Lock()
	s.calls[key]++
	s.mu.Unlock()
	select {
	case <-time.After(s.rng.duration(crashMaxLatency)):
	case <-r.Context().Done(): // the caller was killed
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `{"ok": true}`)
}

func (s *callSink) snapshot() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.calls))
	for k, v := range s.calls {
		out[k] = v
	}
	return out
}

// lockedRand is a seeded source shared by the test and the sink's handlers.
type lockedRand struct {
	mu sync.Mutex
	r  *mrand.Rand
}

// duration is uniform in [0, limit).
func (l *lockedRand) duration(limit time.Duration) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return time.Duration(l.r.Int64N(int64(limit)))
}

// apiClient calls the JSON API with a bearer token. It keeps no connection alive: a kept
// one would be a killed server's, and a POST on it is not retried.
type apiClient struct {
	t     *testing.T
	base  string
	token string
	http  http.Client
}

func (c *apiClient) do(method, path string, body any, want int, out any) {
	c.t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			c.t.Fatal(err)
		}
		r = strings.NewReader(string(b))
	}
	req, err := http.NewRequest(method, c.base+path, r)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	if resp.StatusCode != want {
		c.t.Fatalf("%s %s: %d, want %d: %s", method, path, resp.StatusCode, want, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			c.t.Fatalf("%s %s: %v in %s", method, path, err, b)
		}
	}
}

func randomHex(t *testing.T) string {
	t.Helper()
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(k)
}
