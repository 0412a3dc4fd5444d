package jobs

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestReportCSVStaysInOutputDir: a report's CSV is written inside output_dir and
// nowhere else, whatever its name would say, and a symlink planted in output_dir does
// not redirect the write.
func TestReportCSVStaysInOutputDir(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	dir := filepath.Join(base, "reports")
	outside := filepath.Join(base, "outside.csv")
	if err := os.WriteFile(outside, []byte("precious\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	table := Table{Name: "t", Columns: []string{"a"}, Rows: [][]any{{"=cmd|' /C calc'!A0"}}}
	for _, kind := range []string{"../outside", "../../etc/iactq", "/tmp/abs", "a/../../outside", "..", "x\x00y"} {
		// Either refused, or written inside dir (".." makes "..-job-7.csv").
		if err := writeReportCSV(dir, 7, &ReportResult{Kind: kind, Tables: []Table{table}}); err == nil {
			if _, err := os.Stat(filepath.Join(dir, kind+"-job-7.csv")); err != nil || !filepath.IsLocal(kind+"-job-7.csv") {
				t.Errorf("kind %q: written, but not as a file of output_dir", kind)
			}
		}
	}
	// A symlink planted where the next report goes is replaced, not followed.
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "abandonment_report-job-8.csv")
	if err := os.Symlink(outside, link); err != nil {
		t.Fatal(err)
	}
	if err := writeReportCSV(dir, 8, &ReportResult{Kind: "abandonment_report", Tables: []Table{table}}); err != nil {
		t.Fatalf("write over a planted symlink: %v", err)
	}
	if b, err := os.ReadFile(outside); err != nil || string(b) != "precious\n" {
		t.Fatalf("the file outside output_dir changed: %q %v", b, err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink != 0 {
		t.Fatalf("the report is still a symlink: %v", err)
	}
	// A symlinked temporary name is not followed either.
	tmpLink := filepath.Join(dir, ".abandonment_report-job-9.csv.tmp")
	if err := os.Symlink(outside, tmpLink); err != nil {
		t.Fatal(err)
	}
	_ = writeReportCSV(dir, 9, &ReportResult{Kind: "abandonment_report", Tables: []Table{table}})
	if b, err := os.ReadFile(outside); err != nil || string(b) != "precious\n" {
		t.Fatalf("the file outside output_dir changed through the temporary name: %q %v", b, err)
	}
	// Nothing was created beside output_dir.
	entries, err := os.ReadDir(base)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() != "reports" && e.Name() != "outside.csv" {
			t.Errorf("%s was created outside output_dir", e.Name())
		}
	}
	if _, err := os.Stat("/tmp/abs-job-7.csv"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("/tmp/abs-job-7.csv exists")
	}
}
