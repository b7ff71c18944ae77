package engine

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"github.com/riverqueue/river"
	"github.com/uptrace/bun"

	"floh/db"
)

// Notice is a message for admins: in-app always, by email too when SMTP is configured.
type Notice struct {
	Kind  string // e.g. incident, connector_health
	Title string
	Body  string
	Link  string // relative to the app, e.g. /incidents/{id}
}

// NotifyAdmins tells every active admin about n.
func (e *Engine) NotifyAdmins(ctx context.Context, n Notice) error {
	return e.inTx(ctx, func(tx bun.Tx) error { return e.notifyAdmins(ctx, tx, n) })
}

// notifyAdmins writes the in-app notifications and queues the emails in tx, so a rolled-back
// change notifies no one and a committed one cannot lose its emails.
func (e *Engine) notifyAdmins(ctx context.Context, tx bun.Tx, n Notice) error {
	admins, err := db.ListActiveUsersWithRole(ctx, tx, RoleAdmin)
	if err != nil {
		return err
	}
	return e.notifyUsers(ctx, tx, admins, n)
}

// notifyUsers tells each user about n in-app, and by email when SMTP is configured, in tx.
func (e *Engine) notifyUsers(ctx context.Context, tx bun.Tx, users []db.User, n Notice) error {
	now := e.now()
	rows := make([]db.Notification, len(users))
	for i, u := range users {
		rows[i] = db.Notification{UserID: u.ID, At: now, Kind: n.Kind, Title: n.Title, Body: n.Body, Link: n.Link}
	}
	if err := db.InsertNotifications(ctx, tx, rows); err != nil {
		return err
	}
	if e.mailer == nil {
		return nil
	}
	body := n.Body
	if n.Link != "" {
		body = strings.TrimSpace(body + "\n\n" + strings.TrimRight(e.baseURL, "/") + n.Link)
	}
	for _, u := range users {
		args := notifyEmailArgs{To: u.Email, Subject: "[Floh] " + n.Title, Body: body}
		if _, err := e.jobs.InsertTx(ctx, tx.Tx, args, nil); err != nil {
			return fmt.Errorf("queue notification email: %w", err)
		}
	}
	return nil
}

// ListNotifications returns one page of the user's notifications and the total.
func (e *Engine) ListNotifications(ctx context.Context, userID uuid.UUID, unreadOnly bool, p db.Page) ([]db.Notification, int, error) {
	return db.ListNotifications(ctx, e.db.Bun, userID, unreadOnly, p)
}

// UnreadNotifications counts the user's unread notifications.
func (e *Engine) UnreadNotifications(ctx context.Context, userID uuid.UUID) (int, error) {
	return db.CountUnreadNotifications(ctx, e.db.Bun, userID)
}

// MarkNotificationRead marks one of the user's notifications read.
func (e *Engine) MarkNotificationRead(ctx context.Context, userID, id uuid.UUID) error {
	return db.MarkNotificationRead(ctx, e.db.Bun, userID, id, e.now())
}

// MarkAllNotificationsRead marks all of the user's notifications read.
func (e *Engine) MarkAllNotificationsRead(ctx context.Context, userID uuid.UUID) (int64, error) {
	return db.MarkAllNotificationsRead(ctx, e.db.Bun, userID, e.now())
}

type notifyEmailArgs struct {
	To      string `json:"to"`
	Subject string `json:"subject"`
	Body    string `json:"body"`
}

func (notifyEmailArgs) Kind() string { return "notify_email" }

func (notifyEmailArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{MaxAttempts: 10} }

type notifyEmailWorker struct {
	river.WorkerDefaults[notifyEmailArgs]
	engine *Engine
}

func (w *notifyEmailWorker) Work(ctx context.Context, job *river.Job[notifyEmailArgs]) error {
	if w.engine.mailer == nil {
		// SMTP_URL was removed after the job was queued: nothing can send it.
		return river.JobCancel(fmt.Errorf("no SMTP server configured"))
	}
	return w.engine.mailer.SendMail(ctx, []string{job.Args.To}, job.Args.Subject, job.Args.Body)
}
