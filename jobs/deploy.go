package jobs

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/iact/iactq/internal/dberr"
	"github.com/iact/iactq/jobs/internal/jobsdb"
	"github.com/iact/iactq/queue"
)

// A deployment is a deploy job and a chain of deploy_step jobs:
//
//   - The deploy job records the deploy (iactq_deploys) and, in the same transaction,
//     takes its environment's lock row (iactq_deploy_locks, locked FOR UPDATE) when it
//     is free; otherwise the deploy is recorded as queued. It enqueues the first step
//     (job.Then, so the step exists if and only if the deploy job completes).
//   - Each deploy_step job runs its step's configured command, records the command,
//     exit code and output, and enqueues the next step with job.Then. Step jobs have
//     the unique key "deploy:ID:STEP", so a step never runs twice at once.
//   - The step that ends the deploy (the last one, or the one that failed, after
//     running the rollback) marks it finished, hands the environment's lock to the
//     oldest queued deploy of that environment (or frees it), tells the requester and
//     ops of the outcome with job.Notify, and enqueues the next deploy's first step:
//     messages and the next step commit with the step's completion, exactly once.
//
// A queued deploy waits without a job and without spending attempts: it starts when
// the deploy before it ends. A running deploy whose jobs have all gone (discarded or
// cancelled by hand) holds its environment until the next deploy of it notices: that
// deploy marks it failed (failed_step "abandoned"), tells its requester and ops, and
// takes the lock.

// deployRevisionRE is what a revision may be: a commit hash, tag or branch name. It
// starts with a letter or digit (never an option), holds no spaces, quotes or shell
// metacharacters. The revision reaches commands only as IACTQ_REVISION.
var deployRevisionRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._/-]{0,127}$`)

// validateRevision checks a revision against deployRevisionRE and git's ref rules.
func validateRevision(rev string) error {
	switch {
	case rev == "":
		return errors.New("revision is required (a commit hash, tag or branch)")
	case !deployRevisionRE.MatchString(rev):
		return fmt.Errorf("revision %q is not a valid revision: use 1-128 letters, digits and . _ / -, starting with a letter or digit", deployAbbrev(rev, 60))
	case strings.Contains(rev, ".."), strings.Contains(rev, "//"), strings.HasSuffix(rev, "/"),
		strings.HasSuffix(rev, "."), strings.HasSuffix(rev, ".lock"), strings.Contains(rev, "/."):
		return fmt.Errorf("revision %q is not a valid revision (no \"..\", \"//\", \"/.\", and no trailing \"/\", \".\" or \".lock\")", rev)
	}
	return nil
}

func deployAbbrev(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// DeployArgs are the args of the deploy kind. They choose an environment and a
// revision, never a command: commands come from the config file.
type DeployArgs struct {
	// Env is "staging" or "production".
	Env string `json:"env"`
	// Revision is the git revision deployed: a commit hash, tag or branch name.
	Revision string `json:"revision"`
}

// Kind implements queue.Args.
func (DeployArgs) Kind() string { return "deploy" }

// Validate implements queue.Validator.
func (a DeployArgs) Validate() error {
	if !deployKnownEnv(a.Env) {
		return fmt.Errorf("env %q is not an environment: use %s", deployAbbrev(a.Env, 40), strings.Join(DeployEnvs, " or "))
	}
	return validateRevision(a.Revision)
}

type deployWorker struct{ deps Deps }

func (w *deployWorker) Work(ctx context.Context, job *queue.Job[DeployArgs]) error {
	log := zerolog.Ctx(ctx)
	q := jobsdb.New(w.deps.DB)
	d, err := q.DeployGetByJob(ctx, sql.NullInt64{Int64: job.ID, Valid: true})
	switch {
	case errors.Is(err, sql.ErrNoRows):
		if d, err = w.start(ctx, job); err != nil {
			return err
		}
		if repo := w.deps.Config.DORA.GitRepo; repo != "" {
			if t, err := gitCommitTime(ctx, repo, d.Revision); err != nil {
				log.Warn().Err(err).Int64("deploy_id", d.ID).Msg("deploy: no commit time for the lead time")
			} else if err := q.DeploySetCommitTime(ctx, jobsdb.DeploySetCommitTimeParams{ID: d.ID, CommitTime: sql.NullTime{Time: t, Valid: true}}); err != nil {
				return fmt.Errorf("record commit time: %w", err)
			}
		}
	case err != nil:
		return fmt.Errorf("find the deploy of job %d: %w", job.ID, err)
	}
	log.Info().Int64("deploy_id", d.ID).Str("env", d.Env).Str("revision", d.Revision).Str("deploy_state", string(d.State)).Msg("deploy recorded")
	if err := deployEffects(ctx, w.deps, job.ID, job.Then, job.Notify); err != nil {
		return err
	}
	// The requester hears once, of the deploy's outcome, from the step that ends it
	// (deployEffects); not now that the deploy has merely been recorded.
	job.SkipRequesterMessage()
	return nil
}

// start records job's deploy: running, holding its environment, when the environment
// is free, else queued.
func (w *deployWorker) start(ctx context.Context, job *queue.Job[DeployArgs]) (jobsdb.IactqDeploy, error) {
	env := job.Args.Env
	q := jobsdb.New(w.deps.DB)
	if err := q.DeployLockEnsure(ctx, env); err != nil {
		return jobsdb.IactqDeploy{}, fmt.Errorf("deploy lock of %s: %w", env, err)
	}
	var id int64
	err := deployInTx(ctx, w.deps.DB, func(q *jobsdb.Queries) error {
		lock, err := q.DeployLockForUpdate(ctx, env)
		if err != nil {
			return fmt.Errorf("lock %s: %w", env, err)
		}
		now := w.deps.Now().UTC()
		free := !lock.DeployID.Valid
		if !free {
			free, err = deployReclaim(ctx, q, lock.DeployID.Int64, job.ID, now)
			if err != nil {
				return err
			}
		}
		p := jobsdb.DeployInsertParams{
			JobID:       sql.NullInt64{Int64: job.ID, Valid: true},
			Env:         env,
			Revision:    job.Args.Revision,
			State:       jobsdb.IactqDeploysStateQueued,
			RequestedBy: sql.NullString{String: job.RequestedBy, Valid: job.RequestedBy != ""},
		}
		// A free environment goes to the oldest queued deploy, if one is left behind
		// (its holder was abandoned), else to this one.
		var first int64
		if free {
			first, err = q.DeployNextQueued(ctx, env)
			if errors.Is(err, sql.ErrNoRows) {
				first, err = 0, nil
				p.State = jobsdb.IactqDeploysStateRunning
				p.StartedAt = sql.NullTime{Time: now, Valid: true}
			}
			if err != nil {
				return fmt.Errorf("find queued deploys of %s: %w", env, err)
			}
		}
		if id, err = q.DeployInsert(ctx, p); err != nil {
			return fmt.Errorf("record deploy: %w", err)
		}
		if !free {
			return nil
		}
		holder := id
		if first != 0 {
			holder = first
			if _, err := q.DeployStart(ctx, jobsdb.DeployStartParams{ID: first, Now: sql.NullTime{Time: now, Valid: true}, DriverJobID: sql.NullInt64{Int64: job.ID, Valid: true}}); err != nil {
				return fmt.Errorf("start deploy %d: %w", first, err)
			}
		}
		return q.DeployLockSet(ctx, jobsdb.DeployLockSetParams{Env: env, DeployID: sql.NullInt64{Int64: holder, Valid: true}, LockedAt: sql.NullTime{Time: now, Valid: true}})
	})
	if err != nil {
		return jobsdb.IactqDeploy{}, err
	}
	d, err := q.DeployGet(ctx, id)
	if err != nil {
		return jobsdb.IactqDeploy{}, fmt.Errorf("read deploy %d: %w", id, err)
	}
	return d, nil
}

// deployReclaim tells whether the environment held by deploy holderID is free after
// all: its holder has finished (a stale lock) or is abandoned, in which case it is
// marked failed on behalf of job jobID, which tells its requester and ops.
func deployReclaim(ctx context.Context, q *jobsdb.Queries, holderID, jobID int64, now time.Time) (bool, error) {
	h, err := q.DeployGet(ctx, holderID)
	if errors.Is(err, sql.ErrNoRows) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("read deploy %d: %w", holderID, err)
	}
	if h.State != jobsdb.IactqDeploysStateRunning {
		return true, nil
	}
	live, err := q.DeployJobLive(ctx, jobsdb.DeployJobLiveParams{
		DriverJobID: h.DriverJobID.Int64,
		KeyPrefix:   sql.NullString{String: fmt.Sprintf("deploy:%d:%%", h.ID), Valid: true},
	})
	if err != nil {
		return false, fmt.Errorf("check the jobs of deploy %d: %w", h.ID, err)
	}
	if live > 0 {
		return false, nil
	}
	_, err = q.DeployFinish(ctx, jobsdb.DeployFinishParams{
		ID:            h.ID,
		State:         jobsdb.IactqDeploysStateFailed,
		FailedStep:    sql.NullString{String: "abandoned", Valid: true},
		Now:           sql.NullTime{Time: now, Valid: true},
		FinishedJobID: sql.NullInt64{Int64: jobID, Valid: true},
	})
	if err != nil {
		return false, fmt.Errorf("mark deploy %d abandoned: %w", h.ID, err)
	}
	return true, nil
}

// deployInTx runs fn in a READ COMMITTED transaction, retrying deadlocks and
// lock-wait timeouts as the engine's inserts do (dberr.ConflictPolicy): they rolled
// the transaction back, so fn runs again from the start. A lost connection is not
// retried: the commit (a new deploy) may have happened before the answer was lost.
func deployInTx(ctx context.Context, db *sql.DB, fn func(q *jobsdb.Queries) error) error {
	return dberr.Retry(ctx, dberr.ConflictPolicy, func(ctx context.Context) error { return deployTxOnce(ctx, db, fn) })
}

func deployTxOnce(ctx context.Context, db *sql.DB, fn func(q *jobsdb.Queries) error) error {
	tx, err := db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelReadCommitted})
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	if err := fn(jobsdb.New(tx)); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// deployStepKey is the unique key of a step job.
func deployStepKey(deployID int64, step string) string {
	return fmt.Sprintf("deploy:%d:%s", deployID, step)
}

// deployStepParams is the job that runs step of deploy id.
func deployStepParams(id int64, step string) queue.InsertParams {
	return queue.InsertParams{
		Args:        DeployStepArgs{DeployID: id, Step: step},
		UniqueKey:   deployStepKey(id, step),
		MaxAttempts: 10,
	}
}

// deployEffects is what the job jobID leaves for its completion: the outcome message
// of every deploy it finished, and the first step of every deploy it started. Being
// derived from the database, it is the same when a job runs again after a crash.
func deployEffects(ctx context.Context, deps Deps, jobID int64, then func(queue.InsertParams) error, notify func(recipient, subject, body string)) error {
	q := jobsdb.New(deps.DB)
	finished, err := q.DeployListFinishedBy(ctx, sql.NullInt64{Int64: jobID, Valid: true})
	if err != nil {
		return fmt.Errorf("deploys finished by job %d: %w", jobID, err)
	}
	for _, d := range finished {
		steps, err := q.DeployStepList(ctx, d.ID)
		if err != nil {
			return fmt.Errorf("steps of deploy %d: %w", d.ID, err)
		}
		subject, body := deployOutcomeMessage(deployFromDB(d), deployStepsFromDB(steps))
		ops := deps.Config.Deploy.Notify
		if ops == "" {
			ops = "ops"
		}
		notify(ops, subject, body)
		if r := d.RequestedBy.String; r != "" && r != ops {
			notify(r, subject, body)
		}
	}
	toStart, err := q.DeployListToStart(ctx, sql.NullInt64{Int64: jobID, Valid: true})
	if err != nil {
		return fmt.Errorf("deploys started by job %d: %w", jobID, err)
	}
	for _, d := range toStart {
		if err := then(deployStepParams(d.ID, DeploySteps[0])); err != nil {
			return queue.Permanent(fmt.Errorf("enqueue the first step of deploy %d: %w", d.ID, err))
		}
	}
	return nil
}

// deployOutcomeMessage is the one message the requester and ops get of a deploy.
func deployOutcomeMessage(d Deploy, steps []DeployStep) (subject, body string) {
	var b strings.Builder
	outcome := d.State
	switch d.State {
	case "succeeded":
		outcome = "succeeded"
	case "rolled_back":
		outcome = fmt.Sprintf("rolled back (%s failed)", d.FailedStep)
	case "failed":
		switch {
		case d.FailedStep == "abandoned":
			outcome = "abandoned (its jobs were discarded or cancelled)"
		case deployStepIndex(d.FailedStep) >= 0 && deployStepIndex(d.FailedStep) < deployStepIndex(deployFirstChangingStep):
			outcome = fmt.Sprintf("failed at %s (nothing changed, nothing to roll back)", d.FailedStep)
		default:
			outcome = fmt.Sprintf("FAILED at %s and the rollback failed: the environment needs a person", d.FailedStep)
		}
	}
	subject = fmt.Sprintf("deploy #%d of %s to %s %s", d.ID, d.Revision, d.Env, outcome)
	fmt.Fprintf(&b, "Deploy #%d of revision %s to %s", d.ID, d.Revision, d.Env)
	if d.RequestedBy != "" {
		fmt.Fprintf(&b, ", requested by %s", d.RequestedBy)
	}
	fmt.Fprintf(&b, ": %s", outcome)
	if !d.StartedAt.IsZero() && !d.FinishedAt.IsZero() {
		fmt.Fprintf(&b, " in %s", d.FinishedAt.Sub(d.StartedAt).Round(100*time.Millisecond))
	}
	b.WriteString(".\n")
	var failed *DeployStep
	for i, s := range steps {
		status := "running"
		if s.ExitCode != nil {
			status = "ok"
			if *s.ExitCode != 0 {
				status = fmt.Sprintf("exit %d", *s.ExitCode)
				if s.Step != deployRollbackStep {
					failed = &steps[i]
				}
			}
		}
		fmt.Fprintf(&b, "  %d %-13s %s\n", s.Seq, s.Step, status)
	}
	if failed != nil {
		fmt.Fprintf(&b, "Last output of %s:\n", failed.Step)
		for _, line := range deployLastLines(failed.Output, 10) {
			fmt.Fprintf(&b, "  %s\n", line)
		}
	}
	fmt.Fprintf(&b, "Details: iactq deploys show %d", d.ID)
	return subject, b.String()
}

// deployLastLines is the last n non-empty lines of s.
func deployLastLines(s string, n int) []string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	if len(lines) == 1 && lines[0] == "" {
		return nil
	}
	return lines
}
