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
			return idText, "", fmt.Errorf("%w: invalid message id: it is a positive number", errBadRequest)
		}
		n, err := s.o.Client.MarkRead(ctx, []int64{id})
		if err != nil {
			return idText, "", err
		}
		if n == 0 {
			return idText, "", fmt.Errorf("message %d is not unread (read already, or no such message): %w", id, queue.ErrNotFound)
		}
		return idText, fmt.Sprintf("message %d marked read", id), nil
	}
	to := r.PostFormValue("to")
	if !userName.MatchString(to) {
		return "", "", fmt.Errorf("%w: whose messages? a name of 1 to 64 letters, digits, '.', '_', '@' or '-'", errBadRequest)
	}
	unread, err := s.o.Client.Messages(ctx, to, true, 1000)
	if err != nil {
		return to, "", err
	}
	ids := make([]int64, len(unread))
	for i, m := range unread {
		ids[i] = m.ID
	}
	n, err := s.o.Client.MarkRead(ctx, ids)
	if err != nil {
		return to, "", err
	}
	return to, fmt.Sprintf("%d messages of %s marked read", n, to), nil
}
