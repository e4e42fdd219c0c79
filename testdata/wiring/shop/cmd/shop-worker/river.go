package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/riverqueue/river"

	"example.com/shop/internal/mcpoauth/jobs"
)

// workConfig is the River configuration of `work`: the default queue with
// maxWorkers workers, or the jobs package's default when maxWorkers is 0.
func workConfig(maxWorkers int) *river.Config {
	if maxWorkers <= 0 {
		return nil
	}
	return &river.Config{Queues: map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: maxWorkers}}}
}

// work prints the client's ID, which River records in the attempted_by of
// the jobs it works and in river_leader while it leads, then runs the
// client until ctx ends and stops it gracefully.
func work[TTx any](ctx context.Context, client *river.Client[TTx]) error {
	fmt.Printf("river client: %s\n", client.ID())
	<-ctx.Done()
	stopCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return client.Stop(stopCtx)
}

// research enqueues the example job through River and waits for River to
// finish it, returning the output the worker recorded.
func research[TTx any](ctx context.Context, client *river.Client[TTx], args jobs.ResearchArgs) (json.RawMessage, error) {
	defer func() {
		stopCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = client.Stop(stopCtx)
	}()
	events, cancel := client.Subscribe(river.EventKindJobCompleted, river.EventKindJobCancelled, river.EventKindJobFailed)
	defer cancel()
	res, err := client.Insert(ctx, args, nil)
	if err != nil {
		return nil, err
	}
	ctx, stop := context.WithTimeout(ctx, time.Minute)
	defer stop()
	for {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("job %d: %w", res.Job.ID, ctx.Err())
		case ev := <-events:
			if ev.Job.ID != res.Job.ID {
				continue
			}
			switch ev.Kind {
			case river.EventKindJobCompleted:
				return ev.Job.Output(), nil
			default:
				msg := "no error recorded"
				if n := len(ev.Job.Errors); n > 0 {
					msg = ev.Job.Errors[n-1].Error
				}
				return nil, errors.New(string(ev.Kind) + ": " + msg)
			}
		}
	}
}

// enqueue inserts jobs with client, an insert-only client (no workers, no
// queues: it never works a job nor leads), as a web process enqueues
// them for the worker processes, and returns their IDs.
func enqueue[TTx any](ctx context.Context, client *river.Client[TTx], args []jobs.ResearchArgs) ([]int64, error) {
	params := make([]river.InsertManyParams, len(args))
	for i, a := range args {
		params[i] = river.InsertManyParams{Args: a}
	}
	res, err := client.InsertMany(ctx, params)
	if err != nil {
		return nil, fmt.Errorf("enqueue: %w", err)
	}
	ids := make([]int64, len(res))
	for i, r := range res {
		ids[i] = r.Job.ID
	}
	return ids, nil
}
