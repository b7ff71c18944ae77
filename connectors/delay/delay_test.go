package delay

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"floh/connectors"
)

func TestTypeRegistersAndDocumentsEveryField(t *testing.T) {
	if _, err := connectors.NewRegistry(Type); err != nil {
		t.Fatal(err)
	}
	for _, c := range Type.Commands {
		for _, p := range c.Params {
			if p.Label == "" || p.Help == "" {
				t.Errorf("%s.%s needs a label and help", c.Name, p.Name)
			}
		}
		for _, o := range c.Outputs {
			if o.Help == "" {
				t.Errorf("%s output %s needs help", c.Name, o.Name)
			}
		}
	}
	if Type.Command("wait").IsMutating(nil) {
		t.Error("wait changes nothing")
	}
}

func TestCheckParamsNamesTheField(t *testing.T) {
	cmd := Type.Command("wait")
	for name, params := range map[string]map[string]any{
		"missing":  {},
		"mistyped": {"duration": "soon"},
		"a number": {"duration": float64(30)},
	} {
		_, err := connectors.CheckParams(cmd, params)
		var ce *connectors.Error
		if !errors.As(err, &ce) || ce.Class != connectors.InvalidInput || ce.Field != "duration" {
			t.Errorf("%s: want invalid_input naming duration, got %#v", name, err)
		}
	}
}

// checked runs params through CheckParams, as the engine does before Execute.
func checked(t *testing.T, params map[string]any) map[string]any {
	t.Helper()
	p, err := connectors.CheckParams(Type.Command("wait"), params)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestWaitReturnsOnceTheClockHasAdvanced(t *testing.T) {
	clock := clockwork.NewFakeClock()
	c := newConnector(clock)
	type result struct {
		out map[string]any
		err error
	}
	params := checked(t, map[string]any{"duration": "10m"})
	done := make(chan result, 1)
	go func() {
		out, err := c.Execute(context.Background(), "wait", params)
		done <- result{out, err}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := clock.BlockUntilContext(ctx, 1); err != nil {
		t.Fatal("wait never started its timer")
	}
	clock.Advance(9 * time.Minute)
	select {
	case r := <-done:
		t.Fatalf("returned before the duration passed: %v %v", r.out, r.err)
	default:
	}
	clock.Advance(time.Minute)
	select {
	case r := <-done:
		if r.err != nil || r.out["waited"] != "10m0s" {
			t.Fatalf("got %v %v", r.out, r.err)
		}
	case <-ctx.Done():
		t.Fatal("wait did not return after the clock advanced")
	}
}

func TestWaitStopsWhenTheContextEnds(t *testing.T) {
	clock := clockwork.NewFakeClock()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := newConnector(clock).Execute(ctx, "wait", checked(t, map[string]any{"duration": "1m"}))
	var ce *connectors.Error
	if !errors.As(err, &ce) || ce.Code != "INTERRUPTED" || !ce.Class.Retryable() || !errors.Is(err, context.Canceled) {
		t.Fatalf("want a retryable INTERRUPTED error, got %#v", err)
	}
}

func TestWaitRefusesMoreThanTheCap(t *testing.T) {
	_, err := newConnector(clockwork.NewFakeClock()).Execute(context.Background(), "wait", checked(t, map[string]any{"duration": "61m"}))
	var ce *connectors.Error
	if !errors.As(err, &ce) || ce.Class != connectors.InvalidInput || ce.Field != "duration" || ce.Code != "DURATION_TOO_LONG" {
		t.Fatalf("want invalid_input DURATION_TOO_LONG, got %#v", err)
	}
}

func TestZeroDurationAndTest(t *testing.T) {
	conn, err := Type.New(connectors.Config{})
	if err != nil {
		t.Fatal(err)
	}
	out, err := conn.Execute(context.Background(), "wait", checked(t, map[string]any{"duration": "0s"}))
	if err != nil || out["waited"] != "0s" {
		t.Fatalf("got %v %v", out, err)
	}
	res, err := conn.Test(context.Background())
	if err != nil || res.Message == "" {
		t.Fatalf("test: %+v %v", res, err)
	}
	var ce *connectors.Error
	if _, err := conn.Execute(context.Background(), "sleep", nil); !errors.As(err, &ce) || ce.Class != connectors.InvalidInput {
		t.Fatalf("unknown command: %v", err)
	}
}
