package jobs

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/iact/iactq/jobs/internal/jobsdb"
)

// ErrDeployNotFound is returned for a deploy id that does not exist.
var ErrDeployNotFound = errors.New("deploy not found")

// Deploy is one row of iactq_deploys. Zero times stand for NULL.
type Deploy struct {
	ID          int64     `json:"id"`
	JobID       int64     `json:"job_id"`
	Env         string    `json:"env"`
	Revision    string    `json:"revision"`
	State       string    `json:"state"` // queued, running, succeeded, failed, rolled_back
	RequestedBy string    `json:"requested_by,omitempty"`
	FailedStep  string    `json:"failed_step,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
	StartedAt   time.Time `json:"started_at"`
	FinishedAt  time.Time `json:"finished_at"`
	CommitTime  time.Time `json:"commit_time"`
}

// DeployStep is one row of iactq_deploy_steps: a step's command, exit code and output.
type DeployStep struct {
	Seq     int      `json:"seq"`
	Step    string   `json:"step"`
	Command []string `json:"command"`
	// ExitCode is nil while the step runs; -1 when it could not start or timed out.
	ExitCode   *int      `json:"exit_code"`
	Output     string    `json:"output"`
	StartedAt  time.Time `json:"started_at"`
	FinishedAt time.Time `json:"finished_at"`
}

// ListDeploys returns the newest deploys, of env only unless env is empty.
func ListDeploys(ctx context.Context, db *sql.DB, env string, limit int) ([]Deploy, error) {
	rows, err := jobsdb.New(db).DeployList(ctx, jobsdb.DeployListParams{Env: env, Limit: int32(limit)})
	if err != nil {
		return nil, fmt.Errorf("list deploys: %w", err)
	}
	out := make([]Deploy, len(rows))
	for i, r := range rows {
		out[i] = deployFromDB(r)
	}
	return out, nil
}

// GetDeploy returns a deploy and its steps, in order.
func GetDeploy(ctx context.Context, db *sql.DB, id int64) (Deploy, []DeployStep, error) {
	q := jobsdb.New(db)
	r, err := q.DeployGet(ctx, id)
	if errors.Is(err, sql.ErrNoRows) {
		return Deploy{}, nil, fmt.Errorf("deploy %d: %w", id, ErrDeployNotFound)
	}
	if err != nil {
		return Deploy{}, nil, fmt.Errorf("read deploy %d: %w", id, err)
	}
	steps, err := q.DeployStepList(ctx, id)
	if err != nil {
		return Deploy{}, nil, fmt.Errorf("steps of deploy %d: %w", id, err)
	}
	return deployFromDB(r), deployStepsFromDB(steps), nil
}

func deployFromDB(r jobsdb.IactqDeploy) Deploy {
	return Deploy{
		ID:          r.ID,
		JobID:       r.JobID.Int64,
		Env:         r.Env,
		Revision:    r.Revision,
		State:       string(r.State),
		RequestedBy: r.RequestedBy.String,
		FailedStep:  r.FailedStep.String,
		CreatedAt:   r.CreatedAt,
		StartedAt:   r.StartedAt.Time,
		FinishedAt:  r.FinishedAt.Time,
		CommitTime:  r.CommitTime.Time,
	}
}

func deployStepsFromDB(rows []jobsdb.IactqDeployStep) []DeployStep {
	out := make([]DeployStep, len(rows))
	for i, r := range rows {
		s := DeployStep{
			Seq:        int(r.Seq),
			Step:       r.Step,
			Output:     r.Output,
			StartedAt:  r.StartedAt,
			FinishedAt: r.FinishedAt.Time,
		}
		_ = json.Unmarshal([]byte(r.Command), &s.Command)
		if r.ExitCode.Valid {
			code := int(r.ExitCode.Int32)
			s.ExitCode = &code
		}
		out[i] = s
	}
	return out
}
