// Command shop-worker runs the shop's MCP background work.
//
//	shop-worker migrate                        create River's tables
//	shop-worker work                           run jobs until SIGINT/SIGTERM
//	shop-worker research -user 1 -tool whoami  run the example job, print its result
//	shop-worker hammer -user 1 -goroutines 8 -calls 20
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
	Work(ctx context.Context) error
	Research(ctx context.Context, args jobs.ResearchArgs) (json.RawMessage, error)
	Deps() jobs.Deps
	Close()
}

func main() {
	if len(os.Args) < 2 {
		log.Fatal("usage: shop-worker migrate|work|research|hammer [flags]")
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
	goroutines := fs.Int("goroutines", 4, "hammer: concurrent callers")
	calls := fs.Int("calls", 10, "hammer: calls per caller")
	pause := fs.Duration("pause", 0, "hammer: pause between a caller's calls")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch cmd {
	case "migrate":
		return r.Migrate(ctx)
	case "work":
		return r.Work(ctx)
	case "research":
		out, err := r.Research(ctx, jobs.ResearchArgs{
			UserID: mcpoauth.UserID(*user), Server: *server, Tool: *tool,
			Arguments: arguments(*tool, *text),
		})
		if err != nil {
			fmt.Printf("job failed: %v\n", err)
			return err
		}
		fmt.Printf("result: %s\n", out)
		return nil
	case "hammer":
		return hammer(ctx, r.Deps(), mcpoauth.UserID(*user), *server, *tool, *goroutines, *calls, *pause)
	}
	return fmt.Errorf("unknown command %q", cmd)
}

// hammer opens a session per caller through the client factory, as each
// job would, and calls tool calls times, counting what happened.
func hammer(ctx context.Context, deps jobs.Deps, user mcpoauth.UserID, server, tool string, goroutines, calls int, pause time.Duration) error {
	var ok, failed atomic.Int64
	var mu sync.Mutex
	errs := map[string]int{}
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range calls {
				err := callOnce(ctx, deps, user, server, tool, fmt.Sprintf("g%d-%d", g, i))
				if err != nil {
					failed.Add(1)
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
		}()
	}
	wg.Wait()
	b, _ := json.Marshal(map[string]any{"ok": ok.Load(), "failed": failed.Load(), "errors": errs})
	fmt.Printf("hammer: %s\n", b)
	if failed.Load() > 0 {
		return errors.New("hammer: some calls failed")
	}
	return nil
}

// arguments are the dev server's tools' inputs: echo takes a text, the
// others take nothing this worker needs to vary.
func arguments(tool, text string) map[string]any {
	switch tool {
	case "echo":
		return map[string]any{"text": text}
	case "add":
		return map[string]any{"a": 2, "b": 3}
	}
	return map[string]any{}
}

func callOnce(ctx context.Context, deps jobs.Deps, user mcpoauth.UserID, server, tool, text string) error {
	session, err := deps.Clients.For(ctx, user, &mcpoauth.ClientOptions{Server: server})
	if err != nil {
		return err
	}
	defer session.Close()
	res, err := session.CallTool(ctx, &mcp.CallToolParams{Name: tool, Arguments: arguments(tool, text)})
	if err != nil {
		return err
	}
	if res.IsError {
		return errors.New("tool returned an error")
	}
	return nil
}
