package web_test

import (
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// noRedirect is a client that shows redirects instead of following them.
var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// TestActionsOnlyByPOSTWithTheToken: an action's path answers no other method, and the
// token counts only from the POST body, the Authorization header or the login cookie,
// compared whole.
func TestActionsOnlyByPOSTWithTheToken(t *testing.T) {
	b := setup(t, testToken)
	id := b.seed(t)
	retry := b.srv.URL + "/jobs/" + itoa(id) + "/retry"
	for _, method := range []string{http.MethodGet, http.MethodPut, http.MethodDelete, http.MethodPatch} {
		req, _ := http.NewRequest(method, retry+"?token="+testToken, strings.NewReader(url.Values{"token": {testToken}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Authorization", "Bearer "+testToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("%s %s: %s", method, "/retry", resp.Status)
		}
	}
	for name, tc := range map[string]struct {
		target string
		form   url.Values
		header http.Header
	}{
		"token in the query string": {retry + "?token=" + testToken, nil, nil},
		"token with a suffix":       {retry, url.Values{"token": {testToken + "x"}}, nil},
		"token with a space":        {retry, url.Values{"token": {testToken + " "}}, nil},
		"token upper-cased":         {retry, url.Values{"token": {strings.ToUpper(testToken)}}, nil},
		"bearer with a suffix":      {retry, nil, http.Header{"Authorization": {"Bearer " + testToken + "x"}}},
		"bearer, two spaces":        {retry, nil, http.Header{"Authorization": {"Bearer  " + testToken}}},
		"basic auth":                {retry, nil, http.Header{"Authorization": {"Basic " + testToken}}},
		"token as a header":         {retry, nil, http.Header{"X-Token": {testToken}}},
		"empty cookie":              {retry, nil, http.Header{"Cookie": {"iactq_token="}}},
	} {
		if code, body := post(t, http.DefaultClient, tc.target, tc.form, tc.header); code != http.StatusForbidden {
			t.Errorf("%s: %d %s", name, code, body)
		}
	}
	if s := jobState(t, b.d, id); s != "discarded" {
		t.Fatalf("a refused request changed the job: %s", s)
	}
}

// TestLoginCookieAndPages: the login cookie cannot be read by scripts or sent from
// other sites, a wrong token sets none, and no page echoes the token.
func TestLoginCookieAndPages(t *testing.T) {
	b := setup(t, testToken)
	id := b.seed(t)
	resp, err := noRedirect.PostForm(b.srv.URL+"/login", url.Values{"token": {"wrong"}, "back": {"/"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if len(resp.Cookies()) != 0 {
		t.Errorf("a wrong token set cookies: %v", resp.Cookies())
	}
	resp, err = noRedirect.PostForm(b.srv.URL+"/login", url.Values{"token": {testToken}, "back": {"/"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "iactq_token" {
			cookie = c
		}
	}
	if cookie == nil || !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode || cookie.Path != "/" {
		t.Fatalf("login cookie %+v: want HttpOnly, SameSite=Strict, Path=/", cookie)
	}
	for _, path := range []string{"/", "/failed", "/jobs/" + itoa(id), "/audit", "/metrics", "/priorities", "/schedules", "/workers", "/deploys"} {
		req, _ := http.NewRequest(http.MethodGet, b.srv.URL+path, nil)
		req.AddCookie(cookie)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body strings.Builder
		buf := make([]byte, 32<<10)
		for {
			n, err := resp.Body.Read(buf)
			body.Write(buf[:n])
			if err != nil {
				break
			}
		}
		resp.Body.Close()
		if strings.Contains(body.String(), testToken) {
			t.Errorf("GET %s shows the token", path)
		}
		if resp.Header.Get("X-Frame-Options") != "DENY" || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
			t.Errorf("GET %s may be framed: %v", path, resp.Header)
		}
	}
}

// TestRedirectsStayOnTheDashboard: the "back" field of a form only ever sends the
// browser to a path of the dashboard, never to another site, even with the tab and
// newline characters that browsers strip from URLs.
func TestRedirectsStayOnTheDashboard(t *testing.T) {
	b := setup(t, testToken)
	for _, back := range []string{
		"//evil.example/",
		"https://evil.example/",
		"/\\evil.example",
		"/\t/evil.example",
		"/\n/evil.example",
		"/\r/evil.example",
		"\t//evil.example",
		" //evil.example",
		"/%2F/evil.example",
		"javascript:alert(1)",
	} {
		for _, path := range []string{"/login", "/logout", "/queues/default/pause"} {
			// The transport alone: the client would refuse to parse a bad Location.
			req, _ := http.NewRequest(http.MethodPost, b.srv.URL+path, strings.NewReader(url.Values{"token": {testToken}, "back": {back}}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			resp, err := http.DefaultTransport.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			loc := resp.Header.Get("Location")
			// What a browser makes of it (URL parsing removes every tab and newline).
			seen := strings.NewReplacer("\t", "", "\n", "", "\r", "").Replace(strings.TrimLeft(loc, " \x00\t\n\r"))
			if u, err := url.Parse(seen); err != nil || u.Host != "" || u.Scheme != "" || strings.HasPrefix(seen, "//") || strings.HasPrefix(seen, "/\\") || !strings.HasPrefix(seen, "/") {
				t.Errorf("POST %s back=%q: Location %q leaves the dashboard", path, back, loc)
			}
		}
	}
}

// TestTokenComparedInConstantTime: the dashboard compares tokens with
// crypto/subtle, never with == (which returns at the first differing byte).
func TestTokenComparedInConstantTime(t *testing.T) {
	t.Parallel()
	src, err := os.ReadFile("auth.go")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(src), "subtle.ConstantTimeCompare(") {
		t.Error("auth.go does not compare the token with subtle.ConstantTimeCompare")
	}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	eq := regexp.MustCompile(`[!=]=\s*s\.o\.Token\b|s\.o\.Token\s*[!=]=\s*[^"\s]`)
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if m := eq.FindAllString(string(src), -1); len(m) > 0 {
			t.Errorf("%s compares the token with ==: %q", f, m)
		}
	}
}
