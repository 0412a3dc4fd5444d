package web_test

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestMarkReadRefusesBadInput: the inbox's mark-as-read, one message or all of a
// recipient's, fed bad and hostile ids and names: each is refused with a clear
// one-line error, no message changes, and nothing comes back unescaped — in the
// plain-text answer to scripts or in the page's flash. An unknown or already read
// message is said to be so, not "marked read".
func TestMarkReadRefusesBadInput(t *testing.T) {
	b := setup(t, testToken)
	res := b.d.Exec(t, `INSERT INTO internal_messages (recipient, subject, body) VALUES ('ana', 'hello', 'unread one')`)
	msgID, _ := res.LastInsertId()
	b.d.Exec(t, `INSERT INTO internal_messages (recipient, subject, body, read_at) VALUES ('ana', 'old', 'read one', NOW(6))`)
	var readID int64
	if err := b.d.DB.QueryRow(`SELECT id FROM internal_messages WHERE subject = 'old'`).Scan(&readID); err != nil {
		t.Fatal(err)
	}
	state := func() string {
		t.Helper()
		var s string
		if err := b.d.DB.QueryRow(`SELECT GROUP_CONCAT(id, ':', COALESCE(read_at, '-') ORDER BY id) FROM internal_messages`).Scan(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	before := state()
	hostile := `<script>alert(1)</script>"'&`
	auth := http.Header{"Authorization": {"Bearer " + testAnalystToken}}

	type attempt struct {
		path string
		form url.Values
		code int
		says string
	}
	cases := []attempt{
		{"/messages/0/read", nil, 400, "invalid message id"},
		{"/messages/-1/read", nil, 400, "invalid message id"},
		{"/messages/abc/read", nil, 400, "invalid message id"},
		{"/messages/1e3/read", nil, 400, "invalid message id"},
		{"/messages/99999999999999999999/read", nil, 400, "invalid message id"},
		{"/messages/" + url.PathEscape(hostile) + "/read", nil, 400, "invalid message id"},
		{"/messages/987654/read", nil, 404, "message 987654 is not unread"},
		{fmt.Sprintf("/messages/%d/read", readID), nil, 404, "is not unread (read already"},
		{"/messages/read", url.Values{}, 400, "whose messages?"},
		{"/messages/read", url.Values{"to": {hostile}}, 400, "whose messages?"},
		{"/messages/read", url.Values{"to": {strings.Repeat("a", 65)}}, 400, "whose messages?"},
		{"/messages/read", url.Values{"to": {"ana bob"}}, 400, "whose messages?"},
	}
	r := rand.New(rand.NewPCG(7, 11))
	for range 30 { // random bytes as the id or the name
		v := make([]byte, 1+r.IntN(40))
		for i := range v {
			v[i] = byte(r.IntN(256))
		}
		if r.IntN(2) == 0 {
			cases = append(cases, attempt{"/messages/" + url.PathEscape(string(v)) + "/read", nil, 0, ""})
		} else {
			cases = append(cases, attempt{"/messages/read", url.Values{"to": {string(v)}}, 0, ""})
		}
	}
	for _, c := range cases {
		form := c.form
		if form == nil {
			form = url.Values{}
		}
		code, body := post(t, http.DefaultClient, b.srv.URL+c.path, form, auth)
		if c.code == 0 { // random: refused (400/404, or the mux's 404/405 for a path it does not route)
			if code < 400 || code >= 500 {
				t.Errorf("%s %v: %d %q", c.path, form, code, body)
			}
		} else if code != c.code || !strings.Contains(body, c.says) || strings.Count(strings.TrimSpace(body), "\n") != 0 {
			t.Errorf("%s %v: %d %q; want %d saying %q in one line", c.path, form, code, body, c.code, c.says)
		}
		if strings.Contains(body, "<script>") {
			t.Errorf("%s: the answer echoes the input unescaped: %q", c.path, body)
		}
		if s := state(); s != before {
			t.Fatalf("%s %v changed the messages: %s -> %s", c.path, form, before, s)
		}
	}

	// From the page (its back field): the error is a flash in the inbox, escaped.
	jarless := &http.Client{}
	code, page := post(t, jarless, b.srv.URL+"/messages/read", url.Values{"to": {hostile}, "back": {"/messages"}}, auth)
	if code != http.StatusOK || !strings.Contains(page, `class="flash flash-err"`) || !strings.Contains(page, "whose messages?") || strings.Contains(page, "<script>alert") {
		t.Errorf("flash of a refused mark-read: %d\n%s", code, page)
	}
	// The recipient box of the inbox (a GET) echoes its value escaped too.
	if _, page := get(t, jarless, b.srv.URL+"/messages?to="+url.QueryEscape(hostile)); strings.Contains(page, "<script>alert") || !strings.Contains(page, "&lt;script&gt;") {
		t.Errorf("/messages?to=<script>: not escaped:\n%s", page)
	}
	// Without a token: 403, nothing changes.
	if code, _ := post(t, http.DefaultClient, b.srv.URL+fmt.Sprintf("/messages/%d/read", msgID), url.Values{}, nil); code != http.StatusForbidden || state() != before {
		t.Errorf("mark read without a token: %d", code)
	}
	// The good request still works, once.
	if code, body := post(t, http.DefaultClient, b.srv.URL+fmt.Sprintf("/messages/%d/read", msgID), url.Values{}, auth); code != http.StatusOK || !strings.Contains(body, "marked read") || state() == before {
		t.Errorf("mark read: %d %q", code, body)
	}
	if code, body := post(t, http.DefaultClient, b.srv.URL+"/messages/read", url.Values{"to": {"ana"}}, auth); code != http.StatusOK || !strings.Contains(body, "0 messages of ana marked read") {
		t.Errorf("mark all read with nothing unread: %d %q", code, body)
	}
}
