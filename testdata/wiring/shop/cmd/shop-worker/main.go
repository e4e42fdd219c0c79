// Command shop-worker runs the shop's MCP background work.
//
//	shop-worker migrate                        create River's tables
//	shop-worker work [-max-workers 1]          run jobs until SIGINT/SIGTERM
//	shop-worker research -user 1 -tool whoami  run the example job, print its result
//	shop-worker enqueue -user 1 -tool sleep -ms 300 -n 6
//	                                           insert example jobs for the workers, as a web process would
//	shop-worker hammer -user 1 -goroutines 8 -calls 20 [-pause 100ms] [-duration 10s]
//	                                           call a tool concurrently through the client factory
//
// DATABASE_URL is the database; the MCP_OAUTH_* and DEFAULT_MCP_SERVER_URL
// variables are those the web process reads.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"example.com/shop/internal/mcpoauth"
	"example.com/shop/internal/mcpoauth/jobs"
)

// runner is how this worker does background work on its database.
type runner interface {
	Migrate(ctx context.Context) error
	Work(ctx context.Context, maxWorkers int) error
	Research(ctx context.Context, args jobs.ResearchArgs) (json.RawMessage, error)
	Enqueue(ctx context.Context, args []jobs.ResearchArgs) ([]int64, error)
	Deps() jobs.Deps
	Close()
}

func main() {
	if len(os.Args) < 2 {
		log.Fatal("usage: shop-worker migrate|work|research|enqueue|hammer [flags]")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	r, err := openRunner(ctx, os.Getenv("DATABASE_URL"))
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()
	if err := run(ctx, r, os.Args[1], os.Args[2:]); err != nil {
		log.Print(err)
		stop()
		r.Close()
		os.Exit(1)
	}
}

func run(ctx context.Context, r runner, cmd string, args []string) error {
	fs := flag.NewFlagSet(cmd, flag.ExitOnError)
	user := fs.Int64("user", 0, "user id")
	server := fs.String("server", "", "server key (default: the default server)")
	tool := fs.String("tool", "whoami", "tool to call")
	text := fs.String("text", "hello", "argument of the echo tool")
	ms := fs.Int("ms", 100, "argument of the sleep tool")
	n := fs.Int("n", 1, "enqueue: how many jobs")
	maxWorkers := fs.Int("max-workers", 0, "work: jobs worked at once (0: the jobs package's default)")
	goroutines := fs.Int("goroutines", 4, "hammer: concurrent callers")
	calls := fs.Int("calls", 10, "hammer: calls per caller")
	pause := fs.Duration("pause", 0, "hammer: pause between a caller's calls")
	duration := fs.Duration("duration", 0, "hammer: keep calling this long instead of -calls times")
	if err := fs.Parse(args); err != nil {
		return err
	}
	job := jobs.ResearchArgs{
		UserID: mcpoauth.UserID(*user), Server: *server, Tool: *tool,
		Arguments: arguments(*tool, *text, *ms),
	}
	switch cmd {
	case "migrate":
		return r.Migrate(ctx)
	case "work":
		return r.Work(ctx, *maxWorkers)
	case "enqueue":
		ids, err := r.Enqueue(ctx, slices.Repeat([]jobs.ResearchArgs{job}, *n))
		if err != nil {
			return err
		}
		b, _ := json.Marshal(ids)
		fmt.Printf("enqueued: %s\n", b)
		return nil
	case "research":
		out, err := r.Research(ctx, job)
		if err != nil {
			fmt.Printf("job failed: %v\n", err)
			return err
		}
		fmt.Printf("result: %s\n", out)
		return nil
	case "hammer":
		return hammer(ctx, r.Deps(), job, *goroutines, *calls, *pause, *duration)
	}
	return fmt.Errorf("unknown command %q", cmd)
}

// hammer opens a session per caller through the client factory, as each
// job would, and calls the job's tool calls times, or until duration has
// passed when it is set, counting what happened.
func hammer(ctx context.Context, deps jobs.Deps, job jobs.ResearchArgs, goroutines, calls int, pause, duration time.Duration) error {
	var ok, failed, reauth, unavailable atomic.Int64
	var mu sync.Mutex
	errs := map[string]int{}
	began := time.Now()
	more := func(i int) bool {
		if duration > 0 {
			return time.Since(began) < duration
		}
		return i < calls
	}
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := 0; more(i) && ctx.Err() == nil; i++ {
				err := callOnce(ctx, deps, job, fmt.Sprintf("g%d-%d", g, i))
				if err != nil {
					failed.Add(1)
					switch {
					case errors.Is(err, mcpoauth.ErrReauthRequired), errors.Is(err, mcpoauth.ErrNotAuthenticated):
						reauth.Add(1) // the user would be asked to reconnect
					case errors.Is(err, mcpoauth.ErrRefreshUnavailable):
						unavailable.Add(1) // "try later"
					}
					mu.Lock()
					errs[err.Error()]++
					mu.Unlock()
				} else {
					ok.Add(1)
				}
				if pause > 0 {
					time.Sleep(pause)
				}
			}
		})
	}
	wg.Wait()
	b, _ := json.Marshal(map[string]any{"ok": ok.Load(), "failed": failed.Load(), "errors": errs,
		"reauth": reauth.Load(), "unavailable": unavailable.Load(),
		"seconds": time.Since(began).Seconds()})
	fmt.Printf("hammer: %s\n", b)
	if failed.Load() > 0 {
		return errors.New("hammer: some calls failed")
	}
	return nil
}

// arguments are the dev server's tools' inputs: echo takes a text, sleep
// how long to take, the others nothing this worker needs to vary.
func arguments(tool, text string, ms int) map[string]any {
	switch tool {
	case "echo":
		return map[string]any{"text": text}
	case "add":
		return map[string]any{"a": 2, "b": 3}
	case "sleep":
		return map[string]any{"ms": ms}
	}
	return map[string]any{}
}

func callOnce(ctx context.Context, deps jobs.Deps, job jobs.ResearchArgs, text string) error {
	session, err := deps.Clients.For(ctx, job.UserID, &mcpoauth.ClientOptions{Server: job.Server})
	if err != nil {
		return err
	}
	defer session.Close()
	args := job.Arguments
	if job.Tool == "echo" {
		args = arguments(job.Tool, text, 0)
	}
	res, err := session.CallTool(ctx, &mcp.CallToolParams{Name: job.Tool, Arguments: args})
	if err != nil {
		return err
	}
	if res.IsError {
		return errors.New("tool returned an error")
	}
	return nil
}
