package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

func (a *app) messagesCmd() *cobra.Command {
	var to string
	var unread, markRead, asJSON bool
	var limit int
	cmd := &cobra.Command{
		Use:   "messages [--to USER] [--unread] [--limit N] [--mark-read]",
		Short: "Read the internal messages about job outcomes",
		Long: `messages lists the internal messages (the internal_messages table), newest first:
what a job's requested_by is told when it completes, fails for good or is cancelled,
and warnings for ops from the maintenance kinds. iactq never sends e-mail.

--to shows one recipient's messages, --unread only those not yet read, and
--mark-read marks the messages shown as read.`,
		Example: `  iactq messages --to analyst --unread
  iactq messages --to ops --unread --mark-read
  iactq messages --json --limit 200`,
		Args: cobra.NoArgs,
		RunE: a.action(func(cmd *cobra.Command, _ []string) error {
			if err := checkLimit(limit); err != nil {
				return err
			}
			ctx := cmd.Context()
			c, db, err := a.client(ctx)
			if err != nil {
				return err
			}
			defer db.Close()
			msgs, err := c.Messages(ctx, to, unread, limit)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				type messageJSON struct {
					ID        int64   `json:"id"`
					Recipient string  `json:"recipient"`
					Subject   string  `json:"subject"`
					Body      string  `json:"body"`
					JobID     *int64  `json:"job_id"`
					CreatedAt *string `json:"created_at"`
					ReadAt    *string `json:"read_at"`
				}
				rows := make([]messageJSON, len(msgs))
				for i, m := range msgs {
					rows[i] = messageJSON{ID: m.ID, Recipient: m.Recipient, Subject: m.Subject, Body: m.Body, CreatedAt: jsonTime(m.CreatedAt), ReadAt: jsonTime(m.ReadAt)}
					if m.JobID != 0 {
						id := m.JobID
						rows[i].JobID = &id
					}
				}
				if err := writeJSON(out, rows); err != nil {
					return err
				}
			} else if len(msgs) == 0 {
				fmt.Fprintln(out, "no messages")
			}
			now := time.Now()
			var ids []int64
			for i, m := range msgs {
				ids = append(ids, m.ID)
				if asJSON {
					continue
				}
				if i > 0 {
					fmt.Fprintln(out)
				}
				status := "unread"
				if !m.ReadAt.IsZero() {
					status = "read " + relative(m.ReadAt, now)
				}
				job := ""
				if m.JobID != 0 {
					job = fmt.Sprintf("  job %d", m.JobID)
				}
				fmt.Fprintf(out, "#%d  to %s  %s%s  %s\n", m.ID, m.Recipient, when(m.CreatedAt, now), job, status)
				fmt.Fprintf(out, "  %s\n", m.Subject)
				if body := strings.TrimRight(m.Body, "\n"); body != "" {
					fmt.Fprintf(out, "    %s\n", strings.ReplaceAll(body, "\n", "\n    "))
				}
			}
			if markRead && len(ids) > 0 {
				if _, err := c.MarkRead(ctx, ids); err != nil {
					return err
				}
			}
			return nil
		}),
	}
	f := cmd.Flags()
	f.StringVar(&to, "to", "", "only messages to USER")
	f.BoolVar(&unread, "unread", false, "only messages not yet read")
	f.IntVar(&limit, "limit", 50, "show at most N messages")
	f.BoolVar(&markRead, "mark-read", false, "mark the messages shown as read")
	f.BoolVar(&asJSON, "json", false, "print a JSON array")
	return cmd
}
