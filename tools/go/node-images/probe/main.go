// Command probe is the sandbox's test workload, one static binary for every role a test pod plays:
//
//	probe serve [-listen :8080] [-data DIR]  HTTP: GET / answers "<hostname>\n"; GET /data/NAME reads and
//	                                         PUT /data/NAME writes the file NAME under DIR
//	probe get URL                            prints the body of a GET, fails on a non-2xx status
//	probe lookup NAME                        prints the addresses NAME resolves to
//	probe sleep                              waits until SIGTERM
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fail("usage: probe serve|get|lookup|sleep ...")
	}
	switch os.Args[1] {
	case "serve":
		serve(os.Args[2:])
	case "get":
		get(os.Args[2:])
	case "lookup":
		lookup(os.Args[2:])
	case "sleep":
		wait()
	default:
		fail("probe: unknown command " + os.Args[1])
	}
}

func fail(msg string) {
	fmt.Fprintln(os.Stderr, msg)
	os.Exit(2)
}

func wait() {
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)
	<-signals
}

func serve(args []string) {
	flags := flag.NewFlagSet("serve", flag.ExitOnError)
	listen := flags.String("listen", ":8080", "address to listen on")
	data := flags.String("data", "", "directory of /data/ files (none: /data/ answers 404)")
	_ = flags.Parse(args)
	host, _ := os.Hostname()
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s\n", host)
	})
	mux.HandleFunc("/data/", func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(r.URL.Path, "/data/")
		if *data == "" || name == "" || strings.Contains(name, "/") {
			http.NotFound(w, r)
			return
		}
		path := filepath.Join(*data, name)
		switch r.Method {
		case http.MethodGet:
			http.ServeFile(w, r, path)
		case http.MethodPut:
			body, err := io.ReadAll(r.Body)
			if err == nil {
				err = os.WriteFile(path, body, 0o644)
			}
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			w.WriteHeader(http.StatusCreated)
		default:
			http.Error(w, "GET or PUT", http.StatusMethodNotAllowed)
		}
	})
	server := &http.Server{Addr: *listen, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		wait()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = server.Shutdown(ctx)
	}()
	fmt.Printf("serving on %s\n", *listen)
	if err := server.ListenAndServe(); err != nil && err != http.ErrServerClosed {
		fail(err.Error())
	}
}

func get(args []string) {
	if len(args) != 1 {
		fail("usage: probe get URL")
	}
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(args[0])
	if err != nil {
		fail(err.Error())
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	os.Stdout.Write(body)
	if resp.StatusCode/100 != 2 {
		fail(fmt.Sprintf("GET %s: %s", args[0], resp.Status))
	}
}

func lookup(args []string) {
	if len(args) != 1 {
		fail("usage: probe lookup NAME")
	}
	addrs, err := net.LookupHost(args[0])
	if err != nil {
		fail(err.Error())
	}
	fmt.Println(strings.Join(addrs, "\n"))
}
