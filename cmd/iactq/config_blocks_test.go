package main

import (
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/rs/zerolog"
	"gopkg.in/yaml.v3"

	"github.com/iact/iactq/jobs"
)

// commentedBlock is one commented-out setting of a config file: its lines, from the
// line "# KEY:" of a top-level key to the last comment line indented below it.
type commentedBlock struct {
	key        string
	start, end int // lines [start, end)
}

// topLevelKeys are the keys a config file may have (fileConfig's yaml tags).
func topLevelKeys() map[string]bool {
	keys := map[string]bool{}
	t := reflect.TypeOf(fileConfig{})
	for i := 0; i < t.NumField(); i++ {
		keys[strings.Split(t.Field(i).Tag.Get("yaml"), ",")[0]] = true
	}
	return keys
}

var commentedKeyRe = regexp.MustCompile(`^# ?([a-z_]+):(\s|$)`)

// commentedBlocks finds every commented-out setting of a config file.
func commentedBlocks(lines []string) []commentedBlock {
	keys := topLevelKeys()
	var blocks []commentedBlock
	for i := 0; i < len(lines); i++ {
		m := commentedKeyRe.FindStringSubmatch(lines[i])
		if m == nil || !keys[m[1]] {
			continue
		}
		b := commentedBlock{key: m[1], start: i}
		j := i + 1
		for j < len(lines) && (strings.HasPrefix(lines[j], "#  ") || strings.HasPrefix(lines[j], "# -")) {
			j++
		}
		b.end = j
		blocks = append(blocks, b)
		i = j - 1
	}
	return blocks
}

// uncomment strips the comment marker of lines [b.start, b.end).
func uncomment(lines []string, b commentedBlock) []string {
	out := append([]string(nil), lines...)
	for i := b.start; i < b.end; i++ {
		l := strings.TrimPrefix(out[i], "#")
		out[i] = strings.TrimPrefix(l, " ")
	}
	return out
}

// TestCommentedBlocksValidate uncomments every commented block of `iactq config
// example` and of the packaged /etc/iactq/iactq.yaml (`config example --commented`),
// one at a time and all together, and loads each result as a config file: every
// block an operator uncomments is a valid setting.
func TestCommentedBlocksValidate(t *testing.T) {
	t.Parallel()
	c := cli{t: t, env: map[string]string{}}
	files := map[string]string{
		"config example":             c.ok("config", "example"),
		"config example --commented": c.ok("config", "example", "--commented"),
	}
	registry := jobs.NewRegistry(jobs.Deps{})
	for name, text := range files {
		lines := strings.Split(text, "\n")
		blocks := commentedBlocks(lines)
		seen := map[string]bool{}
		all := lines
		for _, b := range blocks {
			seen[b.key] = true
			all = uncomment(all, b)
			body := strings.Join(uncomment(lines, b), "\n")
			if _, err := loadSettings(writeConfig(t, body), registry, zerolog.Nop()); err != nil {
				t.Errorf("%s: block %q (lines %d-%d) uncommented: %v", name, b.key, b.start+1, b.end, err)
			}
		}
		if _, err := loadSettings(writeConfig(t, strings.Join(all, "\n")), registry, zerolog.Nop()); err != nil {
			t.Errorf("%s: every block uncommented: %v", name, err)
		}
		if !seen["jobs"] {
			t.Errorf("%s: no commented jobs: block found", name)
		}
		if name == "config example --commented" {
			// Every setting is there, commented out, and nothing is set.
			for key := range topLevelKeys() {
				if !seen[key] {
					t.Errorf("%s: %s is not a commented block", name, key)
				}
			}
			var set map[string]any
			if err := yaml.Unmarshal([]byte(text), &set); err != nil || len(set) != 0 {
				t.Errorf("%s sets %v (err %v), want nothing", name, set, err)
			}
		}
	}
}

// TestConfigShowPrintsEverySetting: config show prints the kinds' settings in effect
// (jobs:) besides the engine's, secrets hidden, and its output is a config file that
// gives the same settings back.
func TestConfigShowPrintsEverySetting(t *testing.T) {
	t.Parallel()
	path := writeConfig(t, `
jobs:
  health_check:
    targets: [{url: "http://127.0.0.1:8000/health", token: hunter22}]
`)
	c := cli{t: t, env: map[string]string{"IACTQ_CONFIG": path}}
	out := c.ok("config", "show")
	for _, want := range []string{
		"\njobs:\n", "\n  reports:\n", "timezone:", "\n  session_cleanup:\n", "table: django_session",
		"\n  deploy:\n", "environments:", "\n  dora:\n", "token: '***'", "\nqueues:\n", "\nschedules:\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("config show lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "hunter22") {
		t.Fatal("config show printed a token")
	}
	// Shown settings read back as a config file give the same output (the token aside).
	again := writeConfig(t, strings.ReplaceAll(out, "'***'", "hunter22"))
	c2 := cli{t: t, env: map[string]string{"IACTQ_CONFIG": again}}
	out2 := c2.ok("config", "show")
	strip := func(s string) string { return s[strings.Index(s, "\n"):] } // the source line differs
	if strip(out2) != strip(out) {
		t.Fatalf("config show of its own output differs:\n%s\n---\n%s", out, out2)
	}
}
