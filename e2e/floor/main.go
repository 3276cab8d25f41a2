// Command floor is the least any gateway in front of the upstream must do
// per request, for the benchmarks: it reads a GraphQL POST, GETs the
// upstream page of every customers(page: N, sort: S) the query names, and
// the next page too when it asks for hasNextPage (at once when there are
// several, as the gateway does), reads each page whole, and answers
// {"data":{}}. No parsing, validation, decoding or rendering:
// its CPU per request bounds from below what any Go gateway on net/http
// costs on the same load (see e2e/bench-peers.sh, FLOOR=1).
//
// It listens on ADDR and calls BOTPENGUIN_BASE_URL, as the gateway does.
package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Getenv); err != nil {
		fmt.Fprintln(os.Stderr, "floor:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, getenv func(string) string) error {
	// The pages a query of the benchmark loads asks for, and the
	// upstream's names of the schema's sorts.
	pageArgs := regexp.MustCompile(`customers\(page: (\d+), sort: (\w+)\)`)
	sorts := map[string]string{"CREATED_AT": "createdAt", "UPDATED_AT": "updatedAt", "NAME": "name", "LAST_LOGIN": "lastLogin"}
	base := strings.TrimSuffix(getenv("BOTPENGUIN_BASE_URL"), "/")
	if base == "" {
		return errors.New("BOTPENGUIN_BASE_URL is not set")
	}
	ln, err := net.Listen("tcp", getenv("ADDR"))
	if err != nil {
		return err
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}, Timeout: 10 * time.Second}
	fetch := func(r *http.Request, page, sort string) error {
		req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, base+"/customer/list?page="+page+"&sort="+sorts[sort], nil)
		if err != nil {
			return err
		}
		req.Header["Authtype"] = []string{"Key"}
		req.Header["Authorization"] = r.Header["Authorization"]
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err == nil && (resp.StatusCode != http.StatusOK || !bytes.HasPrefix(body, []byte(`{"success":true`))) {
			err = fmt.Errorf("upstream answered %d", resp.StatusCode)
		}
		return err
	}
	answer := []byte(`{"data":{}}`)
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		pages := pageArgs.FindAllSubmatch(body, -1)
		if len(pages) == 0 {
			pages = [][][]byte{{nil, []byte("1"), []byte("CREATED_AT")}} // the harness's Q1, Q2 and probes
		}
		if bytes.Contains(body, []byte("hasNextPage")) {
			for _, p := range pages {
				n, _ := strconv.Atoi(string(p[1]))
				pages = append(pages, [][]byte{nil, strconv.AppendInt(nil, int64(n+1), 10), p[2]})
			}
		}
		errs := make([]error, len(pages))
		var wg sync.WaitGroup
		for i, p := range pages[1:] {
			wg.Go(func() { errs[i+1] = fetch(r, string(p[1]), string(p[2])) })
		}
		errs[0] = fetch(r, string(pages[0][1]), string(pages[0][2]))
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		w.Header()["Content-Type"] = []string{"application/json"}
		_, _ = w.Write(answer)
	})}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
