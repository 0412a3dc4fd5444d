package jobs

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/iact/iactq/jobs/internal/jobsdb"
)

// healthResult is the outcome of one probe.
type healthResult struct {
	target  string
	ok      bool
	latency time.Duration
	detail  string
}

// healthDetailMax bounds a result's detail (the column is VARCHAR(1000)).
const healthDetailMax = 500

// probeHTTP GETs t.URL; any 2xx within t.Timeout is OK.
func probeHTTP(ctx context.Context, client *http.Client, t HealthTarget) healthResult {
	ctx, cancel := context.WithTimeout(ctx, t.Timeout)
	defer cancel()
	r := healthResult{target: t.Name}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.URL, nil)
	if err != nil {
		r.detail = healthDetail("bad request: " + err.Error())
		return r
	}
	req.Header.Set("User-Agent", "iactq-health-check")
	if t.Token != "" {
		req.Header.Set("Authorization", "Bearer "+t.Token)
	}
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		r.latency = time.Since(start)
		var uerr *url.Error
		switch {
		case errors.Is(err, context.DeadlineExceeded):
			r.detail = fmt.Sprintf("no answer within %s", t.Timeout)
		case errors.As(err, &uerr):
			r.detail = healthDetail(uerr.Err.Error()) // without `Get "URL": `
		default:
			r.detail = healthDetail(err.Error())
		}
		return r
	}
	defer resp.Body.Close()
	head, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	r.latency = time.Since(start)
	r.ok = resp.StatusCode >= 200 && resp.StatusCode < 300
	r.detail = "HTTP " + resp.Status
	if !r.ok {
		if body := strings.TrimSpace(string(head)); body != "" {
			r.detail += ": " + body
		}
	}
	r.detail = healthDetail(r.detail)
	return r
}

// probeDatabase asks the database for its clock within timeout.
func probeDatabase(ctx context.Context, q *jobsdb.Queries, timeout time.Duration) healthResult {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	r := healthResult{target: healthTargetDatabase}
	start := time.Now()
	now, err := q.DatabaseNow(ctx)
	r.latency = time.Since(start)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			r.detail = fmt.Sprintf("no answer within %s", timeout)
		} else {
			r.detail = healthDetail(err.Error())
		}
		return r
	}
	r.ok = true
	r.detail = "server time " + now.UTC().Format("2006-01-02 15:04:05.000") + " UTC"
	return r
}

// sessionEngineDB is the engine that keeps sessions in the database, and Django's
// default when SESSION_ENGINE is not set.
const sessionEngineDB = "django.contrib.sessions.backends.db"

// settingsMaxSize bounds the settings file read.
const settingsMaxSize = 1 << 20

// sessionEngineRe matches a top-level assignment to SESSION_ENGINE (with an optional
// type annotation), capturing the value up to an end-of-line comment.
var sessionEngineRe = regexp.MustCompile(`^SESSION_ENGINE\s*(?::\s*[A-Za-z_][\w.\[\]]*\s*)?=\s*(.*?)\s*(?:#.*)?$`)

// stringLiteralRe is a Python string literal in single or double quotes.
var stringLiteralRe = regexp.MustCompile(`^(?:'([^'\\]*)'|"([^"\\]*)")$`)

// probeSessionEngine checks that the Django settings file at path keeps sessions in the
// database. It reads that file and no other.
func probeSessionEngine(path string) healthResult {
	start := time.Now()
	r := healthResult{target: healthTargetSessionEngine}
	engine, set, err := readSessionEngine(path)
	r.latency = time.Since(start)
	switch {
	case err != nil:
		r.detail = healthDetail(err.Error())
	case !set:
		r.ok = true
		r.detail = "SESSION_ENGINE not set in " + path + ": Django's default, " + sessionEngineDB
	case engine == sessionEngineDB:
		r.ok = true
		r.detail = "SESSION_ENGINE = " + engine
	default:
		r.detail = healthDetail(fmt.Sprintf("SESSION_ENGINE is %s in %s; sessions must live in the database (%s)", engine, path, sessionEngineDB))
	}
	return r
}

// readSessionEngine returns the value of the last top-level SESSION_ENGINE assignment
// in the file, and whether there is one. A value that is not a string literal is an
// error: what it evaluates to cannot be known without running the settings.
func readSessionEngine(path string) (engine string, set bool, err error) {
	f, err := os.Open(path)
	if err != nil {
		return "", false, fmt.Errorf("read django_settings: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, settingsMaxSize+1))
	if err != nil {
		return "", false, fmt.Errorf("read django_settings: %w", err)
	}
	if len(data) > settingsMaxSize {
		return "", false, fmt.Errorf("django_settings %s is larger than 1 MiB", path)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), settingsMaxSize)
	line := 0
	for sc.Scan() {
		line++
		m := sessionEngineRe.FindStringSubmatch(strings.TrimRight(sc.Text(), "\r"))
		if m == nil {
			continue
		}
		lit := stringLiteralRe.FindStringSubmatch(m[1])
		if lit == nil {
			return "", false, fmt.Errorf("%s:%d: SESSION_ENGINE = %s is not a string literal; cannot tell which engine it is", path, line, m[1])
		}
		engine, set = lit[1]+lit[2], true
	}
	if err := sc.Err(); err != nil {
		return "", false, fmt.Errorf("read django_settings: %w", err)
	}
	return engine, set, nil
}

// healthDetail makes s fit a result's detail: one line, printable, bounded.
func healthDetail(s string) string {
	s = strings.ToValidUTF8(s, "?")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	if len(s) > healthDetailMax {
		cut := healthDetailMax
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "..."
	}
	return s
}
