package web

import (
	"context"
	"fmt"
	"net/http"
	"strconv"

	"github.com/iact/iactq/queue"
)

// ---- the analysts' inbox ----

type inboxData struct {
	To       string
	Unread   []queue.Message
	Read     []queue.Message
	Everyone bool
}

// messages is one recipient's inbox, unread first (?to=NAME, else the name of the
// last report requested from this browser, else everyone's).
func (s *Server) messages(ctx context.Context, r *http.Request) (string, any, error) {
	to := r.URL.Query().Get("to")
	if to == "" {
		to = currentUser(r)
	}
	all, err := s.o.Client.Messages(ctx, to, false, 200)
	if err != nil {
		return "", nil, err
	}
	d := inboxData{To: to, Everyone: to == ""}
	for _, m := range all {
		if m.ReadAt.IsZero() {
			d.Unread = append(d.Unread, m)
		} else {
			d.Read = append(d.Read, m)
		}
	}
	title := "Messages"
	if to != "" {
		title = "Messages for " + to
	}
	return title, d, nil
}

// markRead marks one message read (/messages/{id}/read), or all of a recipient's
// (/messages/read with the form's "to").
func (s *Server) markRead(ctx context.Context, r *http.Request) (string, string, error) {
	if idText := r.PathValue("id"); idText != "" {
		id, err := strconv.ParseInt(idText, 10, 64)
		if err != nil || id <= 0 {
			return idText, "", fmt.Errorf("invalid message id %q: %w", idText, errBadRequest)
		}
		if err := s.o.Client.MarkRead(ctx, []int64{id}); err != nil {
			return idText, "", err
		}
		return idText, fmt.Sprintf("message %d marked read", id), nil
	}
	to := r.PostFormValue("to")
	if !userName.MatchString(to) {
		return "", "", fmt.Errorf("whose messages? %w", errBadRequest)
	}
	unread, err := s.o.Client.Messages(ctx, to, true, 1000)
	if err != nil {
		return to, "", err
	}
	ids := make([]int64, len(unread))
	for i, m := range unread {
		ids[i] = m.ID
	}
	if err := s.o.Client.MarkRead(ctx, ids); err != nil {
		return to, "", err
	}
	return to, fmt.Sprintf("%d messages of %s marked read", len(ids), to), nil
}
