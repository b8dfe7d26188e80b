package daemon

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	controlapi "github.com/moby/buildkit/api/services/control"
	apitypes "github.com/moby/buildkit/api/types"
	"github.com/moby/buildkit/solver/pb"
	"github.com/moby/buildkit/worker/label"
	"google.golang.org/grpc"
)

// fakeControl is a BuildKit control API that answers what connect asks:
// its workers, and its version when it has the Info API. Any other call
// (a solve, a session) is counted, and refused as unimplemented.
type fakeControl struct {
	controlapi.UnimplementedControlServer
	version string // "" for no Info API (BuildKit older than v0.11)
	labels  map[string]string
	others  atomic.Int32
}

func (f *fakeControl) ListWorkers(context.Context, *controlapi.ListWorkersRequest) (*controlapi.ListWorkersResponse, error) {
	return &controlapi.ListWorkersResponse{Record: []*apitypes.WorkerRecord{{
		ID: "w0", Labels: f.labels, Platforms: []*pb.Platform{{OS: "linux", Architecture: "amd64"}},
	}}}, nil
}

func (f *fakeControl) Info(ctx context.Context, r *controlapi.InfoRequest) (*controlapi.InfoResponse, error) {
	if f.version == "" {
		return f.UnimplementedControlServer.Info(ctx, r)
	}
	return &controlapi.InfoResponse{BuildkitVersion: &apitypes.BuildkitVersion{Version: f.version}}, nil
}

func (f *fakeControl) Solve(ctx context.Context, r *controlapi.SolveRequest) (*controlapi.SolveResponse, error) {
	f.others.Add(1)
	return f.UnimplementedControlServer.Solve(ctx, r)
}

func (f *fakeControl) Session(s grpc.BidiStreamingServer[controlapi.BytesMessage, controlapi.BytesMessage]) error {
	f.others.Add(1)
	return f.UnimplementedControlServer.Session(s)
}

// serveControl serves f's gRPC on l until the test ends.
func serveControl(t *testing.T, f *fakeControl, l net.Listener) {
	srv := grpc.NewServer()
	controlapi.RegisterControlServer(srv, f)
	go srv.Serve(l)
	t.Cleanup(srv.Stop)
}

// fakeBuildKitd serves f as a BuildKit daemon on a unix socket, and
// returns its address.
func fakeBuildKitd(t *testing.T, f *fakeControl) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "buildkitd.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	serveControl(t, f, l)
	return "unix://" + sock
}

// fakeDocker serves f as a Docker Engine of version engine serves its
// built-in BuildKit: the API's /version, and /grpc upgraded to h2c. It
// returns the engine's DOCKER_HOST.
func fakeDocker(t *testing.T, engine string, f *fakeControl) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "docker.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	serveDocker(t, l, engine, f)
	return "unix://" + sock
}

// serveDocker serves f on l as fakeDocker does.
func serveDocker(t *testing.T, l net.Listener, engine string, f *fakeControl) {
	grpcConns := &connListener{conns: make(chan net.Conn), done: make(chan struct{})}
	serveControl(t, f, grpcConns)
	mux := http.NewServeMux()
	mux.HandleFunc("/_ping", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Api-Version", "1.41")
		w.Write([]byte("OK"))
	})
	version := func(w http.ResponseWriter, _ *http.Request) {
		json.NewEncoder(w).Encode(map[string]string{"Version": engine, "ApiVersion": "1.41"})
	}
	mux.HandleFunc("/version", version)
	mux.HandleFunc("/v1.41/version", version)
	mux.HandleFunc("POST /grpc", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "h2c" {
			http.Error(w, "want Upgrade: h2c", http.StatusBadRequest)
			return
		}
		conn, rw, err := w.(http.Hijacker).Hijack()
		if err != nil {
			return
		}
		rw.WriteString("HTTP/1.1 101 UPGRADED\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n")
		rw.Flush()
		grpcConns.give(&bufferedConn{Conn: conn, r: rw.Reader})
	})
	srv := &http.Server{Handler: mux, ErrorLog: log.New(io.Discard, "", 0)} // a client without TLS is expected
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close(); grpcConns.Close() })
}

// connListener hands hijacked connections to a gRPC server.
type connListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func (l *connListener) give(c net.Conn) {
	select {
	case l.conns <- c:
	case <-l.done:
		c.Close()
	}
}

func (l *connListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *connListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *connListener) Addr() net.Addr { return &net.UnixAddr{Name: "hijacked", Net: "unix"} }

// bufferedConn reads what the HTTP server buffered before the hijack first.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(b []byte) (int, error) { return c.r.Read(b) }

// containerdStore labels a Docker Engine's BuildKit worker as moby does
// when the engine keeps images in containerd.
var containerdStore = map[string]string{label.Snapshotter: "overlayfs"}
