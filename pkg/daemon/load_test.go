package daemon

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

// fakeStoreEngine serves a Docker Engine's /_ping and /info, the latter
// with driverStatus, and returns its DOCKER_HOST.
func fakeStoreEngine(t *testing.T, driver string, driverStatus [][2]string) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "docker.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Api-Version", "1.44")
		switch {
		case r.URL.Path == "/_ping":
			w.Write([]byte("OK"))
		case strings.HasSuffix(r.URL.Path, "/info"):
			json.NewEncoder(w).Encode(map[string]any{"Driver": driver, "DriverStatus": driverStatus})
		default:
			http.NotFound(w, r)
		}
	})
	srv := &http.Server{Handler: mux}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return "unix://" + sock
}

// --load of a multi-platform image into an engine on its classic image
// store is refused before anything is built, and says what to do; into
// one on its containerd store, or of single-platform images, it goes on.
func TestLoadNeedsTheContainerdStoreForMultiPlatform(t *testing.T) {
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	t.Setenv("DOCKER_CONTEXT", "")
	ctx := context.Background()
	classic := fakeStoreEngine(t, "overlay2", [][2]string{{"Backing Filesystem", "extfs"}, {"Supports d_type", "true"}})
	containerd := fakeStoreEngine(t, "overlayfs", [][2]string{{"driver-type", "io.containerd.snapshotter.v1"}})

	t.Setenv("DOCKER_HOST", classic)
	err := CheckEngine(ctx, "unix:///run/buildkit/buildkitd.sock", true, "job image of multi")
	for _, want := range []string{"--load: job image of multi is multi-platform", "Docker Engine at " + classic, `classic store (storage driver "overlay2")`, "containerd-snapshotter"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("classic store, multi-platform: %v; want %q", err, want)
		}
	}
	if err := CheckEngine(ctx, "unix:///run/buildkit/buildkitd.sock", true, ""); err != nil {
		t.Errorf("classic store, single-platform: %v", err)
	}
	if err := CheckEngine(ctx, "unix:///run/buildkit/buildkitd.sock", false, "job image of multi"); err != nil {
		t.Errorf("no --load: %v", err)
	}
	t.Setenv("DOCKER_HOST", containerd)
	if err := CheckEngine(ctx, "unix:///run/buildkit/buildkitd.sock", true, "job image of multi"); err != nil {
		t.Errorf("containerd store, multi-platform: %v", err)
	}
}
