package db

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"
)

// Notification is an in-app message to one user.
type Notification struct {
	bun.BaseModel `bun:"table:notifications"`

	ID     uuid.UUID  `bun:"id,pk,type:uuid,default:gen_random_uuid()" json:"id"`
	UserID uuid.UUID  `bun:"user_id,type:uuid" json:"userId"`
	At     time.Time  `bun:"at" json:"at"`
	Kind   string     `bun:"kind" json:"kind"`
	Title  string     `bun:"title" json:"title"`
	Body   string     `bun:"body" json:"body"`
	Link   string     `bun:"link" json:"link"`
	ReadAt *time.Time `bun:"read_at" json:"readAt"`
}

// InsertNotifications stores notifications in one statement.
func InsertNotifications(ctx context.Context, idb bun.IDB, ns []Notification) error {
	if len(ns) == 0 {
		return nil
	}
	if _, err := idb.NewInsert().Model(&ns).Returning("id").Exec(ctx); err != nil {
		return fmt.Errorf("insert notifications: %w", err)
	}
	return nil
}

// ListNotifications returns one page of a user's notifications, newest first, and the total.
func ListNotifications(ctx context.Context, idb bun.IDB, userID uuid.UUID, unreadOnly bool, p Page) ([]Notification, int, error) {
	ns := []Notification{}
	q := idb.NewSelect().Model(&ns).Where("user_id = ?", userID)
	if unreadOnly {
		q = q.Where("read_at IS NULL")
	}
	total, err := p.apply(q.OrderExpr("at DESC, id")).ScanAndCount(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("list notifications: %w", err)
	}
	return ns, int(total), nil
}

// CountUnreadNotifications counts a user's unread notifications.
func CountUnreadNotifications(ctx context.Context, idb bun.IDB, userID uuid.UUID) (int, error) {
	n, err := idb.NewSelect().Model((*Notification)(nil)).Where("user_id = ? AND read_at IS NULL", userID).Count(ctx)
	if err != nil {
		return 0, fmt.Errorf("count unread notifications: %w", err)
	}
	return int(n), nil
}

// MarkNotificationRead marks one of a user's notifications read. Another user's notification
// is reported as not found, so ids cannot be probed.
func MarkNotificationRead(ctx context.Context, idb bun.IDB, userID, id uuid.UUID, at time.Time) error {
	res, err := idb.NewUpdate().Model((*Notification)(nil)).Set("read_at = coalesce(read_at, ?)", at).
		Where("id = ? AND user_id = ?", id, userID).Exec(ctx)
	if err != nil {
		return fmt.Errorf("mark notification read: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("notification %s: %w", id, ErrNotFound)
	}
	return nil
}

// MarkAllNotificationsRead marks every unread notification of a user read.
func MarkAllNotificationsRead(ctx context.Context, idb bun.IDB, userID uuid.UUID, at time.Time) (int64, error) {
	res, err := idb.NewUpdate().Model((*Notification)(nil)).Set("read_at = ?", at).
		Where("user_id = ? AND read_at IS NULL", userID).Exec(ctx)
	if err != nil {
		return 0, fmt.Errorf("mark notifications read: %w", err)
	}
	return res.RowsAffected()
}
