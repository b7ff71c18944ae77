package handlers

import (
	"net/http"
	"net/url"
	"strconv"

	"floh/db"
	"floh/views"
)

func (s *Server) listNotificationsAPI(w http.ResponseWriter, r *http.Request) error {
	p, err := listPage(r)
	if err != nil {
		return err
	}
	unread, err := boolParam(r, "unread")
	if err != nil {
		return err
	}
	uid := principalFrom(r).User.ID
	items, total, err := s.engine.ListNotifications(r.Context(), uid, unread, p)
	if err != nil {
		return err
	}
	count, err := s.engine.UnreadNotifications(r.Context(), uid)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, struct {
		listResponse[db.Notification]
		Unread int `json:"unread"`
	}{newList(items, total, p), count})
}

func (s *Server) readNotificationAPI(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if err := s.engine.MarkNotificationRead(r.Context(), principalFrom(r).User.ID, id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) readAllNotificationsAPI(w http.ResponseWriter, r *http.Request) error {
	n, err := s.engine.MarkAllNotificationsRead(r.Context(), principalFrom(r).User.ID)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]int64{"marked": n})
}

func (s *Server) notificationRows(ns []db.Notification) []views.NotificationRow {
	var rows []views.NotificationRow
	for _, n := range ns {
		rows = append(rows, views.NotificationRow{
			ID: n.ID.String(), Title: n.Title, Body: n.Body, Link: n.Link, At: s.whenT(n.At), Unread: n.ReadAt == nil,
		})
	}
	return rows
}

func (s *Server) listNotifications(w http.ResponseWriter, r *http.Request) error {
	p, _ := listPage(r)
	unread, _ := boolParam(r, "unread")
	items, total, err := s.engine.ListNotifications(r.Context(), principalFrom(r).User.ID, unread, p)
	if err != nil {
		return err
	}
	page := views.NotificationsPage{
		Page: s.page(r, "Notifications", ""), UnreadOnly: unread, Rows: s.notificationRows(items),
		Pager: views.Pager{Page: p.Page, PageSize: p.PageSize, Total: total, Href: func(n int) string {
			q := url.Values{"page": {strconv.Itoa(n)}}
			if unread {
				q.Set("unread", "true")
			}
			return withQuery("/notifications", q)
		}},
	}
	s.render(w, r, http.StatusOK, views.NotificationsView(page))
	return nil
}

// unreadLink is the header link's self-refresh.
func (s *Server) unreadLink(w http.ResponseWriter, r *http.Request) error {
	n, err := s.engine.UnreadNotifications(r.Context(), principalFrom(r).User.ID)
	if err != nil {
		return err
	}
	s.render(w, r, http.StatusOK, views.UnreadLink(n))
	return nil
}

func (s *Server) readNotification(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if err := s.engine.MarkNotificationRead(r.Context(), principalFrom(r).User.ID, id); err != nil {
		return err
	}
	return redirect(w, r, "/notifications")
}

func (s *Server) readAllNotifications(w http.ResponseWriter, r *http.Request) error {
	n, err := s.engine.MarkAllNotificationsRead(r.Context(), principalFrom(r).User.ID)
	if err != nil {
		return err
	}
	s.flash(r, "success", "Marked "+strconv.FormatInt(n, 10)+" notification(s) as read.")
	return redirect(w, r, "/notifications")
}
