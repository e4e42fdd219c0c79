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

// work runs the River client until ctx ends, then stops it gracefully.
func work[TTx any](ctx context.Context, client *river.Client[TTx]) error {
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
