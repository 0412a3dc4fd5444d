package jobs

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/iact/iactq/jobs/internal/jobsdb"
	"github.com/iact/iactq/queue"
)

// DeployStepArgs are the args of deploy_step, enqueued by deploy and by the step
// before. They name a deploy and a step; the command comes from the config.
type DeployStepArgs struct {
	DeployID int64  `json:"deploy_id"`
	Step     string `json:"step"`
}

// Kind implements queue.Args.
func (DeployStepArgs) Kind() string { return "deploy_step" }

// Validate implements queue.Validator.
func (a DeployStepArgs) Validate() error {
	if a.DeployID <= 0 {
		return fmt.Errorf("deploy_id must be a positive deploy id, got %d", a.DeployID)
	}
	if deployStepIndex(a.Step) < 0 {
		return fmt.Errorf("step %q is not a step (steps: %s)", deployAbbrev(a.Step, 40), strings.Join(DeploySteps, ", "))
	}
	return nil
}

type deployStepWorker struct{ deps Deps }

// Work runs one step. A command that fails is an outcome of the deploy, not of the
// job: the job records it, runs the rollback, ends the deploy and completes. Errors
// returned (and retried) are the database's, or a stop of the worker.
func (w *deployStepWorker) Work(ctx context.Context, job *queue.Job[DeployStepArgs]) error {
	a := job.Args
	if job.UniqueKey != deployStepKey(a.DeployID, a.Step) {
		return queue.Permanentf("deploy_step jobs are enqueued by deploy jobs, with unique key %q; to deploy, enqueue a deploy job", deployStepKey(a.DeployID, a.Step))
	}
	q := jobsdb.New(w.deps.DB)
	d, err := q.DeployGet(ctx, a.DeployID)
	if errors.Is(err, sql.ErrNoRows) {
		return queue.Permanentf("deploy %d not found", a.DeployID)
	}
	if err != nil {
		return fmt.Errorf("read deploy %d: %w", a.DeployID, err)
	}
	if d.State == jobsdb.IactqDeploysStateRunning {
		if err := w.step(ctx, job, d); err != nil {
			return err
		}
	}
	return deployEffects(ctx, w.deps, job.ID, job.Then, job.Notify)
}

// step runs the job's step of the running deploy d unless it already ran (this job
// running again after a crash), then moves the deploy on: the next step, or its end.
func (w *deployStepWorker) step(ctx context.Context, job *queue.Job[DeployStepArgs], d jobsdb.IactqDeploy) error {
	log := zerolog.Ctx(ctx).With().Int64("deploy_id", d.ID).Str("env", d.Env).Str("step", job.Args.Step).Logger()
	q := jobsdb.New(w.deps.DB)
	rows, err := q.DeployStepList(ctx, d.ID)
	if err != nil {
		return fmt.Errorf("steps of deploy %d: %w", d.ID, err)
	}
	done := map[string]jobsdb.IactqDeployStep{}
	for _, r := range rows {
		done[r.Step] = r
	}
	idx := deployStepIndex(job.Args.Step)
	// Only the deploy's next step runs: every step before it succeeded, none after it
	// began. Anything else is a stray job, which does nothing.
	for _, prev := range DeploySteps[:idx] {
		if r, ok := done[prev]; !ok || !r.ExitCode.Valid || r.ExitCode.Int32 != 0 {
			log.Warn().Str("missing", prev).Msg("deploy_step: an earlier step has not succeeded; nothing to do")
			return nil
		}
	}
	for _, r := range rows {
		if later := r.Step; deployStepSeq(later) > deployStepSeq(job.Args.Step) {
			log.Warn().Str("later", later).Msg("deploy_step: a later step already began; nothing to do")
			return nil
		}
	}
	res, err := w.runOnce(ctx, d, job.Args.Step, done)
	if err != nil {
		return err
	}
	if res == 0 {
		if idx+1 < len(DeploySteps) {
			return job.Then(deployStepParams(d.ID, DeploySteps[idx+1]))
		}
		return w.finish(ctx, d, job.ID, jobsdb.IactqDeploysStateSucceeded, "")
	}
	state := jobsdb.IactqDeploysStateFailed
	if idx >= deployStepIndex(deployFirstChangingStep) {
		rb, err := w.runOnce(ctx, d, deployRollbackStep, done)
		if err != nil {
			return err
		}
		if rb == 0 {
			state = jobsdb.IactqDeploysStateRolledBack
		}
	}
	log.Warn().Int("exit_code", res).Str("deploy_state", string(state)).Msg("deploy step failed")
	return w.finish(ctx, d, job.ID, state, job.Args.Step)
}

// runOnce runs step's command of deploy d and records it, or returns the exit code
// recorded by an earlier run of the same job.
func (w *deployStepWorker) runOnce(ctx context.Context, d jobsdb.IactqDeploy, step string, done map[string]jobsdb.IactqDeployStep) (int, error) {
	if r, ok := done[step]; ok && r.ExitCode.Valid {
		return int(r.ExitCode.Int32), nil
	}
	log := zerolog.Ctx(ctx).With().Int64("deploy_id", d.ID).Str("env", d.Env).Str("step", step).Logger()
	q := jobsdb.New(w.deps.DB)
	cfg := w.deps.Config.Deploy
	cmd, ok := cfg.command(d.Env, step)
	seq := deployStepSeq(step)
	argv, _ := json.Marshal(cmd.Command)
	begin := time.Now().UTC()
	if err := q.DeployStepBegin(ctx, jobsdb.DeployStepBeginParams{DeployID: d.ID, Seq: seq, Step: step, Command: string(argv), StartedAt: begin}); err != nil {
		return 0, fmt.Errorf("record the start of %s: %w", step, err)
	}
	run := deployRun{ExitCode: -1, Started: begin}
	var problem string
	backupDir, err := cfg.backupDir(d.Env, d.ID)
	switch {
	case !ok:
		problem = fmt.Sprintf("no command for step %s of environment %s in the config", step, d.Env)
	case validateRevision(d.Revision) != nil:
		problem = validateRevision(d.Revision).Error()
	case err != nil:
		problem = err.Error()
	default:
		if err := os.MkdirAll(backupDir, 0o750); err != nil {
			problem = fmt.Sprintf("create the backup directory: %v", err)
		}
	}
	if problem != "" {
		run.Output = "[iactq: " + problem + "]\n"
		run.Finished = time.Now()
	} else {
		env := deployCommandEnv(map[string]string{
			"IACTQ_DEPLOY_ID":   strconv.FormatInt(d.ID, 10),
			"IACTQ_DEPLOY_ENV":  d.Env,
			"IACTQ_DEPLOY_STEP": step,
			"IACTQ_REVISION":    d.Revision,
			"IACTQ_BACKUP_DIR":  backupDir,
		})
		log.Info().Strs("command", cmd.Command).Msg("deploy step running")
		run, err = runDeployCommand(ctx, cmd.Command, cfg.dir(d.Env), env, time.Duration(cmd.Timeout))
		if err != nil {
			return 0, err // the job was stopped: it runs again
		}
	}
	err = q.DeployStepEnd(context.WithoutCancel(ctx), jobsdb.DeployStepEndParams{
		DeployID:   d.ID,
		Seq:        seq,
		ExitCode:   sql.NullInt32{Int32: int32(run.ExitCode), Valid: true},
		Output:     run.Output,
		FinishedAt: sql.NullTime{Time: run.Finished.UTC(), Valid: true},
	})
	if err != nil {
		return 0, fmt.Errorf("record the end of %s: %w", step, err)
	}
	log.Info().Int("exit_code", run.ExitCode).Dur("took", run.Finished.Sub(run.Started)).Msg("deploy step ran")
	return run.ExitCode, nil
}

// finish ends deploy d in state on behalf of job jobID and hands its environment to
// the oldest queued deploy of it, or frees it. The messages and the next deploy's
// first step follow from the database (deployEffects).
func (w *deployStepWorker) finish(ctx context.Context, d jobsdb.IactqDeploy, jobID int64, state jobsdb.IactqDeploysState, failedStep string) error {
	if err := jobsdb.New(w.deps.DB).DeployLockEnsure(ctx, d.Env); err != nil {
		return fmt.Errorf("deploy lock of %s: %w", d.Env, err)
	}
	return deployInTx(ctx, w.deps.DB, func(q *jobsdb.Queries) error {
		lock, err := q.DeployLockForUpdate(ctx, d.Env)
		if err != nil {
			return fmt.Errorf("lock %s: %w", d.Env, err)
		}
		now := w.deps.Now().UTC()
		n, err := q.DeployFinish(ctx, jobsdb.DeployFinishParams{
			ID:            d.ID,
			State:         state,
			FailedStep:    sql.NullString{String: failedStep, Valid: failedStep != ""},
			Now:           sql.NullTime{Time: now, Valid: true},
			FinishedJobID: sql.NullInt64{Int64: jobID, Valid: true},
		})
		if err != nil {
			return fmt.Errorf("finish deploy %d: %w", d.ID, err)
		}
		if n == 0 || lock.DeployID.Int64 != d.ID {
			return nil // finished (abandoned) by someone else, who took the lock
		}
		next, err := q.DeployNextQueued(ctx, d.Env)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return q.DeployLockSet(ctx, jobsdb.DeployLockSetParams{Env: d.Env})
		case err != nil:
			return fmt.Errorf("find queued deploys of %s: %w", d.Env, err)
		}
		if _, err := q.DeployStart(ctx, jobsdb.DeployStartParams{ID: next, Now: sql.NullTime{Time: now, Valid: true}, DriverJobID: sql.NullInt64{Int64: jobID, Valid: true}}); err != nil {
			return fmt.Errorf("start deploy %d: %w", next, err)
		}
		return q.DeployLockSet(ctx, jobsdb.DeployLockSetParams{Env: d.Env, DeployID: sql.NullInt64{Int64: next, Valid: true}, LockedAt: sql.NullTime{Time: now, Valid: true}})
	})
}
