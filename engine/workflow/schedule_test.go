package workflow

import (
	"testing"
	"time"
)

func TestSchedule(t *testing.T) {
	for _, tc := range []struct {
		trigger *Trigger
		want    string
	}{
		{nil, ""},
		{&Trigger{Type: TriggerManual}, ""},
		{&Trigger{Type: TriggerAPI}, ""},
		{&Trigger{Type: TriggerSchedule, Cron: " 0 6 * * 1-5 "}, "0 6 * * 1-5"},
	} {
		if got := (&Definition{Trigger: tc.trigger}).Schedule(); got != tc.want {
			t.Errorf("Schedule of %+v = %q, want %q", tc.trigger, got, tc.want)
		}
	}
}

func TestNextFire(t *testing.T) {
	// A Sunday morning, in UTC whatever the zone it is given in.
	sunday := time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)
	paris := time.FixedZone("CET", 3600)
	for _, tc := range []struct {
		spec  string
		after time.Time
		want  time.Time
	}{
		{"0 6 * * 1-5", sunday, time.Date(2026, 11, 23, 6, 0, 0, 0, time.UTC)},
		{"0 6 * * 1-5", sunday.In(paris), time.Date(2026, 11, 23, 6, 0, 0, 0, time.UTC)},
		// Strictly after: a fire time is not its own next.
		{"* * * * *", sunday, sunday.Add(time.Minute)},
		{"* * * * *", sunday.Add(-time.Nanosecond), sunday},
		{"*/15 * * * *", sunday.Add(20 * time.Minute), sunday.Add(30 * time.Minute)},
	} {
		got, err := NextFire(tc.spec, tc.after)
		if err != nil {
			t.Fatalf("NextFire(%q, %s): %v", tc.spec, tc.after, err)
		}
		if !got.Equal(tc.want) || got.Location() != time.UTC {
			t.Errorf("NextFire(%q, %s) = %s, want %s", tc.spec, tc.after, got, tc.want)
		}
	}
	for _, spec := range []string{"", "61 * * * *", "0 0 30 2 *"} {
		if _, err := NextFire(spec, sunday); err == nil {
			t.Errorf("NextFire(%q) found a fire time", spec)
		}
	}
}
