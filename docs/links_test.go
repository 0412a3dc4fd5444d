// Package docs_test checks the manual: every relative link and anchor in README.md,
// CONTRIBUTING.md, CHANGELOG.md and docs/ resolves, and no link leaves the repository.
package docs_test

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"
)

// root is the repository, seen from this package's folder.
const root = ".."

// pages lists the markdown files the test reads, relative to the repository root.
func pages(t *testing.T) []string {
	t.Helper()
	files := []string{"README.md", "CONTRIBUTING.md", "CHANGELOG.md"}
	err := filepath.WalkDir(filepath.Join(root, "docs"), func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(path, ".md") {
			rel, err := filepath.Rel(root, path)
			if err != nil {
				return err
			}
			files = append(files, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walk docs: %v", err)
	}
	return files
}

var (
	fence      = regexp.MustCompile("^\\s*(```|~~~)")
	codeSpan   = regexp.MustCompile("`+[^`]*`+")
	inlineLink = regexp.MustCompile(`!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)`)
	autoLink   = regexp.MustCompile(`<((?:https?|mailto|ftp):[^>\s]+)>`)
	refDef     = regexp.MustCompile(`^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s.*)?$`)
	heading    = regexp.MustCompile(`^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$`)
	mdLink     = regexp.MustCompile(`\[([^\]]*)\]\([^)]*\)`)
	htmlTag    = regexp.MustCompile(`<[^>]+>`)
)

// page is a markdown file's links and the anchors its headings make.
type page struct {
	links   []link
	anchors map[string]bool
}

type link struct {
	line   int
	target string
}

// parse reads a markdown file: the links outside code, and the anchors of its headings
// as GitHub makes them (duplicates get -1, -2, ...).
func parse(text string) page {
	p := page{anchors: map[string]bool{}}
	seen := map[string]int{}
	inFence := false
	for i, line := range strings.Split(text, "\n") {
		if fence.MatchString(line) {
			inFence = !inFence
			continue
		}
		if inFence {
			continue
		}
		if m := heading.FindStringSubmatch(line); m != nil {
			slug := anchor(m[2])
			if n := seen[slug]; n > 0 {
				p.anchors[fmt.Sprintf("%s-%d", slug, n)] = true
			} else {
				p.anchors[slug] = true
			}
			seen[slug]++
		}
		if m := refDef.FindStringSubmatch(line); m != nil {
			p.links = append(p.links, link{i + 1, m[1]})
			continue
		}
		plain := codeSpan.ReplaceAllString(line, "")
		for _, m := range inlineLink.FindAllStringSubmatch(plain, -1) {
			p.links = append(p.links, link{i + 1, m[1]})
		}
		for _, m := range autoLink.FindAllStringSubmatch(plain, -1) {
			p.links = append(p.links, link{i + 1, m[1]})
		}
	}
	return p
}

// anchor is the id GitHub gives a heading: its text as rendered (code marks, link
// syntax and HTML dropped), lower-cased, with every character that is not a letter,
// digit, space, '-' or '_' removed and each space made a '-'.
func anchor(h string) string {
	h = mdLink.ReplaceAllString(h, "$1")
	h = htmlTag.ReplaceAllString(h, "")
	var b strings.Builder
	for _, r := range strings.ToLower(h) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

func TestAnchorsAsGitHubMakesThem(t *testing.T) {
	for _, tc := range []struct{ heading, want string }{
		{"The two commands", "the-two-commands"},
		{"`session_cleanup` — expired Django sessions, deleted in small batches", "session_cleanup--expired-django-sessions-deleted-in-small-batches"},
		{"The Galera scenario (fault injection, scenario 6)", "the-galera-scenario-fault-injection-scenario-6"},
		{"12. The SLA rollup reads the open-ended range once per call", "12-the-sla-rollup-reads-the-open-ended-range-once-per-call"},
		{"Demo data: `iactq demo load [--days N]`", "demo-data-iactq-demo-load---days-n"},
		{"See [the dashboard](x.md)", "see-the-dashboard"},
	} {
		if got := anchor(tc.heading); got != tc.want {
			t.Errorf("anchor(%q) = %q, want %q", tc.heading, got, tc.want)
		}
	}
	p := parse("# A\n\n## A\n\n```\n# not a heading\n```\n## A\n")
	want := []string{"a", "a-1", "a-2"}
	var got []string
	for a := range p.anchors {
		got = append(got, a)
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("anchors of repeated headings = %v, want %v", got, want)
	}
}

// check reads files (relative to dir) and returns every link that does not resolve
// inside dir, and the number of links and anchors it followed.
func check(dir string, files []string) (problems []string, links, anchors int, err error) {
	absRoot, err := filepath.Abs(dir)
	if err != nil {
		return nil, 0, 0, err
	}
	parsed := map[string]page{}
	read := func(rel string) (page, error) {
		if p, ok := parsed[rel]; ok {
			return p, nil
		}
		b, err := os.ReadFile(filepath.Join(dir, rel))
		if err != nil {
			return page{}, err
		}
		p := parse(string(b))
		parsed[rel] = p
		return p, nil
	}
	for _, file := range files {
		p, err := read(file)
		if err != nil {
			return nil, 0, 0, err
		}
		for _, l := range p.links {
			links++
			bad := func(format string, args ...any) {
				problems = append(problems, fmt.Sprintf("%s:%d: %s: ", file, l.line, l.target)+fmt.Sprintf(format, args...))
			}
			u, err := url.Parse(l.target)
			if err != nil {
				bad("not a URL: %v", err)
				continue
			}
			if u.Scheme != "" || u.Host != "" {
				// Only the local services the manual talks about; nothing outside.
				if h := u.Hostname(); u.Scheme != "http" || (h != "127.0.0.1" && h != "localhost") {
					bad("links outside the repository")
				}
				continue
			}
			target := file
			if u.Path != "" {
				if strings.HasPrefix(u.Path, "/") {
					bad("an absolute path; use a relative link")
					continue
				}
				target = filepath.Join(filepath.Dir(file), filepath.FromSlash(u.Path))
				abs, err := filepath.Abs(filepath.Join(dir, target))
				if err != nil || (abs != absRoot && !strings.HasPrefix(abs, absRoot+string(filepath.Separator))) {
					bad("leaves the repository")
					continue
				}
				if _, err := os.Stat(abs); err != nil {
					bad("%s does not exist", target)
					continue
				}
			}
			if u.Fragment == "" {
				continue
			}
			anchors++
			if !strings.HasSuffix(target, ".md") {
				bad("an anchor into %s, which is not a markdown page", target)
				continue
			}
			tp, err := read(target)
			if err != nil {
				bad("read %s: %v", target, err)
				continue
			}
			if !tp.anchors[u.Fragment] {
				bad("%s has no heading with anchor #%s", target, u.Fragment)
			}
		}
	}
	return problems, links, anchors, nil
}

func TestLinksResolve(t *testing.T) {
	files := pages(t)
	problems, links, anchors, err := check(root, files)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Error(p)
	}
	if links == 0 {
		t.Fatal("found no links at all: the parser is broken")
	}
	if len(problems) == 0 {
		t.Logf("%d pages, %d links (%d with an anchor): all resolve inside the repository", len(files), links, anchors)
	}
}

func TestCheckFindsBrokenLinks(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) {
		t.Helper()
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("README.md", "# Top\n\n[ok](docs/a.md#a-heading) [self](#top) [dir](docs/)\n"+
		"[gone](docs/missing.md) [no anchor](docs/a.md#nope) [out](../shared/SPEC.md)\n"+
		"[web](https://example.com/) [abs](/etc/passwd) [local](http://127.0.0.1:8377/)\n")
	write("docs/a.md", "# A heading\n\n[back](../README.md#top) [bad self](#a-headin)\n")
	problems, links, _, err := check(dir, []string{"README.md", "docs/a.md"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"README.md:4: docs/missing.md: docs/missing.md does not exist",
		"README.md:4: docs/a.md#nope: docs/a.md has no heading with anchor #nope",
		"README.md:4: ../shared/SPEC.md: leaves the repository",
		"README.md:5: https://example.com/: links outside the repository",
		"README.md:5: /etc/passwd: an absolute path; use a relative link",
		"docs/a.md:3: #a-headin: docs/a.md has no heading with anchor #a-headin",
	}
	if !slices.Equal(problems, want) {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(problems, "\n"), strings.Join(want, "\n"))
	}
	if links != 11 {
		t.Errorf("followed %d links, want 11", links)
	}
}

func TestParserFindsBrokenLinks(t *testing.T) {
	p := parse("see [a](missing.md#x) and `[not](a-link.md)`\n\n```\n[nor](this.md)\n```\n[ref]: ../outside.md\n<http://example.com/>\n")
	var got []string
	for _, l := range p.links {
		got = append(got, l.target)
	}
	want := []string{"missing.md#x", "../outside.md", "http://example.com/"}
	if !slices.Equal(got, want) {
		t.Errorf("links = %v, want %v", got, want)
	}
}

// TestEveryPageIsReachable checks that the README's map is complete: every page in
// docs/ is reached from README.md by following links.
func TestEveryPageIsReachable(t *testing.T) {
	files := pages(t)
	reached := map[string]bool{"README.md": true}
	queue := []string{"README.md"}
	for len(queue) > 0 {
		file := queue[0]
		queue = queue[1:]
		b, err := os.ReadFile(filepath.Join(root, file))
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range parse(string(b)).links {
			u, err := url.Parse(l.target)
			if err != nil || u.Scheme != "" || !strings.HasSuffix(u.Path, ".md") {
				continue
			}
			target := filepath.Join(filepath.Dir(file), filepath.FromSlash(u.Path))
			if !reached[target] {
				reached[target] = true
				queue = append(queue, target)
			}
		}
	}
	for _, f := range files {
		if !reached[f] {
			t.Errorf("%s is not reached from README.md: add it to the map of the manual (or link it from a page that is)", f)
		}
	}
}

// TestReadmeIsShort keeps the README a front door (SPEC §9): at most 250 lines, the
// manual in docs/.
func TestReadmeIsShort(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(b), "\n"); n > 250 {
		t.Errorf("README.md has %d lines, over 250: move the detail to a page of docs/", n)
	}
}
