package daemon

import (
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
	classic := fakeStoreEngine(t, "overlay2", [][2]string{{"Backing Filesystem", "extfs"}, {"Supports d_type", "true"}})
	containerd := fakeStoreEngine(t, "overlayfs", [][2]string{{"driver-type", "io.containerd.snapshotter.v1"}})
	publishing := testYAML + "publish: {images: \"reg.example.com/ci/{name}:ecr\"}\n"
	for _, c := range []struct {
		name, host string
		publish    []string // --publish
		load       bool
		want       []string // in the refusal; none: built
	}{
		{"classic store, multi-platform", classic, nil, true, []string{
			"--load: job image of multi is multi-platform", "Docker Engine at " + classic, `classic store (storage driver "overlay2")`, "containerd-snapshotter"}},
		{"classic store, single-platform only", classic, []string{"twin"}, true, nil},
		{"classic store, no --load", classic, nil, false, nil},
		{"containerd store, multi-platform", containerd, nil, true, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv("DOCKER_HOST", c.host)
			d := &fakeDaemon{}
			r := newFakeRunOf(t, d, publishing)
			r.s.opt.Publish = Publish{Load: c.load, Push: !c.load, Images: c.publish}
			_, err := r.run(t)
			if len(c.want) == 0 {
				if err != nil || !r.landed(t, "multi-linux-arm64") {
					t.Errorf("refused: %v", err)
				}
				return
			}
			for _, w := range c.want {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("%v\nlacks %q", err, w)
				}
			}
			if err != nil && strings.Contains(err.Error(), "\n") {
				t.Errorf("not one line: %q", err)
			}
			for _, name := range allBinaries {
				if r.landed(t, name) {
					t.Errorf("%s was built and landed", name)
				}
			}
		})
	}
}
