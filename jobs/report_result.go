package jobs

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/iact/iactq/jobs/internal/jobsdb"
)

// ReportResult is a report as stored in iactq_reports.result: totals and tables of
// plain JSON values, so that analysts can query it with SQL and the CLI can render
// any kind the same way.
type ReportResult struct {
	Kind  string `json:"kind"`
	Title string `json:"title"`
	// Period is the range the report covers, [From, To), as given and as resolved.
	Period      ReportPeriod `json:"period"`
	Granularity string       `json:"granularity,omitempty"`
	Timezone    string       `json:"timezone"`
	FlowID      string       `json:"flow_id,omitempty"`
	// Summary is the one line sent to the requester (without the "show" hint).
	Summary     string    `json:"summary"`
	GeneratedAt time.Time `json:"generated_at"`
	// Totals are the report's headline numbers, in order.
	Totals Fields `json:"totals"`
	// Tables come main table first (the one --csv exports by default).
	Tables []Table `json:"tables"`
	// NoData, when set, says that the period holds no calls and what the data covers:
	// the totals are zeros for want of data, not measurements.
	NoData string `json:"no_data,omitempty"`
	// Notes define the numbers (what counts as abandoned, how p90 is computed, ...).
	Notes []string `json:"notes,omitempty"`
}

// ReportPeriod is a report's time range.
type ReportPeriod struct {
	Label string    `json:"label"`
	From  time.Time `json:"from"`
	To    time.Time `json:"to"`
}

func reportPeriod(p period) ReportPeriod {
	return ReportPeriod{Label: p.Label, From: p.From, To: p.To}
}

// Field is one named value of an ordered JSON object.
type Field struct {
	Name  string
	Value any
}

// Fields is a JSON object whose keys keep their order.
type Fields []Field

// MarshalJSON writes the fields as an object, in order.
func (f Fields) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, fl := range f {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(fl.Name)
		v, err := json.Marshal(fl.Value)
		if err != nil {
			return nil, fmt.Errorf("field %s: %w", fl.Name, err)
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// UnmarshalJSON reads an object keeping its keys' order; numbers stay json.Number.
func (f *Fields) UnmarshalJSON(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return errors.New("totals: not a JSON object")
	}
	*f = nil
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		var v any
		if err := dec.Decode(&v); err != nil {
			return err
		}
		*f = append(*f, Field{Name: tok.(string), Value: v})
	}
	return nil
}

// Get returns the value of the field named name, or nil.
func (f Fields) Get(name string) any {
	for _, fl := range f {
		if fl.Name == name {
			return fl.Value
		}
	}
	return nil
}

// Table is one table of a report: rows of JSON values (numbers, strings, null for
// "not defined", such as an average over no calls).
type Table struct {
	Name    string   `json:"name"`
	Title   string   `json:"title"`
	Columns []string `json:"columns"`
	Rows    [][]any  `json:"rows"`
}

// Table returns the table called name, or nil.
func (r *ReportResult) Table(name string) *Table {
	for i := range r.Tables {
		if r.Tables[i].Name == name {
			return &r.Tables[i]
		}
	}
	return nil
}

// FormatValue writes a report value for people and CSV: numbers as they are (without
// a trailing .0), null as the empty string.
func FormatValue(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case json.Number:
		return x.String()
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case int:
		return strconv.Itoa(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case bool:
		return strconv.FormatBool(x)
	default:
		b, _ := json.Marshal(x)
		return string(b)
	}
}

// WriteCSV writes t as CSV: a header line, then the rows.
func (t *Table) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(t.Columns); err != nil {
		return err
	}
	rec := make([]string, len(t.Columns))
	for _, row := range t.Rows {
		for i := range rec {
			rec[i] = ""
			if i < len(row) {
				rec[i] = FormatValue(row[i])
			}
		}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// writeReportCSV writes the report's main table to dir/KIND-job-ID.csv. The file is
// opened through an os.Root on dir, so nothing outside dir can be written even
// through symbolic links, and renamed into place complete.
func writeReportCSV(dir string, jobID int64, res *ReportResult) error {
	if len(res.Tables) == 0 {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	name := fmt.Sprintf("%s-job-%d.csv", res.Kind, jobID)
	tmp := "." + name + ".tmp"
	f, err := root.Create(tmp)
	if err != nil {
		return err
	}
	if err := res.Tables[0].WriteCSV(f); err != nil {
		f.Close()
		_ = root.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		_ = root.Remove(tmp)
		return err
	}
	return root.Rename(tmp, name)
}

// Report is a stored report.
type Report struct {
	ID        int64
	JobID     int64
	Kind      string
	Params    json.RawMessage
	Result    ReportResult
	Summary   string
	CreatedAt time.Time
}

// ErrReportNotFound is returned when a job has no report (yet).
var ErrReportNotFound = errors.New("report not found")

// GetReport returns the report of job jobID.
func GetReport(ctx context.Context, db *sql.DB, jobID int64) (*Report, error) {
	row, err := jobsdb.New(db).ReportGetByJob(ctx, jobID)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("job %d: %w", jobID, ErrReportNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get report of job %d: %w", jobID, err)
	}
	r := &Report{ID: row.ID, JobID: row.JobID, Kind: row.Kind, Params: row.Params, Summary: row.Summary, CreatedAt: row.CreatedAt}
	dec := json.NewDecoder(bytes.NewReader(row.Result))
	dec.UseNumber()
	if err := dec.Decode(&r.Result); err != nil {
		return nil, fmt.Errorf("decode report of job %d: %w", jobID, err)
	}
	return r, nil
}

// ReportInfo is a line of the list of reports.
type ReportInfo struct {
	ID        int64
	JobID     int64
	Kind      string
	Summary   string
	CreatedAt time.Time
}

// ListReports lists the latest reports, newest first, of one kind or ("") all.
func ListReports(ctx context.Context, db *sql.DB, kind string, limit int) ([]ReportInfo, error) {
	q := jobsdb.New(db)
	var out []ReportInfo
	if kind == "" {
		rows, err := q.ReportList(ctx, int32(limit))
		if err != nil {
			return nil, fmt.Errorf("list reports: %w", err)
		}
		for _, r := range rows {
			out = append(out, ReportInfo(r))
		}
		return out, nil
	}
	rows, err := q.ReportListByKind(ctx, jobsdb.ReportListByKindParams{Kind: kind, Limit: int32(limit)})
	if err != nil {
		return nil, fmt.Errorf("list reports: %w", err)
	}
	for _, r := range rows {
		out = append(out, ReportInfo(r))
	}
	return out, nil
}

// Number helpers: values stored in results are rounded once, here.

// round1 rounds x to one decimal.
func round1(x float64) float64 { return math.Round(x*10) / 10 }

// pct is 100·n/d rounded to one decimal, or nil when d is 0.
func pct(n, d int) any {
	if d == 0 {
		return nil
	}
	return round1(100 * float64(n) / float64(d))
}

// avg is sum/n rounded to one decimal, or nil when n is 0.
func avg(sum int64, n int) any {
	if n == 0 {
		return nil
	}
	return round1(float64(sum) / float64(n))
}

// groupDigits writes n with a space every three digits, as people read counts:
// 3 950, 1 204 311.
func groupDigits(n int) string {
	s := strconv.Itoa(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(' ')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// secs writes a number of seconds for a summary: 42s, 4m12s.
func secs(v any) string {
	x, ok := v.(float64)
	if !ok {
		return "-"
	}
	d := time.Duration(math.Round(x)) * time.Second
	if d < time.Minute {
		return fmt.Sprintf("%ds", int(d/time.Second))
	}
	return fmt.Sprintf("%dm%02ds", int(d/time.Minute), int(d%time.Minute/time.Second))
}

// fmtPct writes a percentage value for a summary: 7.9%, or "-".
func fmtPct(v any) string {
	x, ok := v.(float64)
	if !ok {
		return "-"
	}
	return strconv.FormatFloat(x, 'f', 1, 64) + "%"
}
