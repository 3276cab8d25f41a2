package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// healthcheckTimeout bounds -healthcheck; a container runtime runs it on
// an interval, and a hung gateway must count as unhealthy, not block it.
const healthcheckTimeout = 5 * time.Second

// healthcheck is -healthcheck: GET /healthz of the gateway listening on
// listenAddr (ADDR, or -addr), from the same machine or container. The
// image has no shell and no curl, so the binary probes itself.
func healthcheck(ctx context.Context, listenAddr string, stdout io.Writer) error {
	target, err := probeAddr(listenAddr)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, healthcheckTimeout)
	defer cancel()
	url := "http://" + target + "/healthz"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	// Straight to the gateway: never through a proxy from the environment.
	client := &http.Client{Transport: &http.Transport{Proxy: nil}}
	defer client.CloseIdleConnections()
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<10))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: GET %s: %s", url, resp.Status)
	}
	fmt.Fprintf(stdout, "healthy: GET %s: %s\n", url, resp.Status)
	return nil
}

// probeAddr is where to reach a gateway listening on listenAddr: an
// unspecified host (":8080", "0.0.0.0:8080", "[::]:8080") is reached on
// loopback, any other as it is written.
func probeAddr(listenAddr string) (string, error) {
	host, port, err := net.SplitHostPort(listenAddr)
	if err != nil {
		return "", fmt.Errorf("ADDR %q: %w", listenAddr, err)
	}
	if port == "" || port == "0" {
		return "", fmt.Errorf("ADDR %q has no fixed port to probe; give -addr host:port", listenAddr)
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return net.JoinHostPort(host, port), nil
}
