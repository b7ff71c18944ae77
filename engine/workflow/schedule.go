package workflow

import (
	"fmt"
	"strings"
	"time"

	"github.com/go-co-op/gocron/v2"
)

// Schedule is the cron of a schedule trigger, or "" when the workflow's runs do not start on
// a schedule.
func (d *Definition) Schedule() string {
	if d.Trigger == nil || d.Trigger.Type != TriggerSchedule {
		return ""
	}
	return strings.TrimSpace(d.Trigger.Cron)
}

// NextFire is the first time after after at which the cron spec fires, in UTC. It reads spec
// as the scheduler does (five fields, gocron's parser, UTC), so what a page shows is when the
// scheduler fires.
func NextFire(spec string, after time.Time) (time.Time, error) {
	c := gocron.NewDefaultCron(false)
	if err := c.IsValid(spec, time.UTC, after); err != nil {
		return time.Time{}, fmt.Errorf("schedule %q: %w", spec, err)
	}
	return c.Next(after).UTC(), nil
}
